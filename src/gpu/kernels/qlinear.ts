// Typed wrappers of the quantized linear layer kernels:
//   qlinearForward   y ← x · Wᵀ (+ s · (x·Aᵀ)·Bᵀ)      qlinear_forward(_f16|_scalar).wgsl
//   qlinearBackward  dx, dscale/doffset, dA/dB          qlinear_backward_*.wgsl + matmul_strided
// W is a GpuQTensor dequantized inside the kernels. With LoRA, the rank-R
// products (x·Aᵀ, dY·B) are small matmuls; the rank-R term is fused into the
// quantized kernels' epilogues. The LoRA factor gradients dA = s·(dY·B)ᵀ·X and
// dB = s·dYᵀ·(X·Aᵀ) are plain strided matmuls (matmul_strided.wgsl, tn): no
// dequantization is involved, so a dedicated kernel would add nothing.
// A codebook tensor (GpuQTensor with `vq`, src/gpu/vq_gpu.ts) goes to the
// kernels of vqlinear.ts from each entry point.
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { afterSubmit, dispatch, submit, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import type { CodePart, GpuQTensor } from '../qtensor_gpu.ts';
import { matmul } from './matmul.ts';
import { matmulT } from './matmul_strided.ts';
import { foldedGrid } from './elementwise.ts';
import { castF16 } from './cast.ts';
import { vqDequantizeGpu, vqlinearBackward, vqlinearForward } from './vqlinear.ts';
import type { GpuLora, QLinearGrads, QLinearOptions } from './qlinear_types.ts';

export type { GpuLora, QLinearGrads, QLinearOptions } from './qlinear_types.ts';
import { groupsPerRow, planeWidths, wordsPerRow } from '../../quant/qtensor.ts';

/** One uniform layout shared by every qlinear kernel (fields unused by a kernel are ignored). */
const params = new UniformStruct({
  T: 'u32',
  I: 'u32',
  O: 'u32',
  G: 'u32',
  WPR: 'u32',
  NG: 'u32',
  R: 'u32',
  O0: 'u32',
  OP: 'u32',
  lora_scale: 'f32',
  beta: 'f32',
});
const R8 = ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'storage'] as const;
type Kernel = 'qlinear_forward' | 'qlinear_forward_f16' | 'qlinear_forward_prep' | 'qlinear_forward_scalar' | 'qlinear_backward_input' | 'qlinear_backward_quant' | 'dequantize';

/** Groups this short take the per-step scale scheme of qlinear_forward (see its header). */
const STEP_SCALE_MAX_GROUP = 32;

/** The kernel specialised for a bit width (override constants, shaders/include/qcode.wgsl) and, for the forward, its scale scheme. */
function kernel(name: Kernel, bits: number, stepScale = false): KernelDef {
  const [QP0, QP1] = planeWidths(bits);
  const bindings =
    name === 'qlinear_backward_quant'
      ? (['uniform', 'read', 'read', 'read', 'storage', 'storage'] as const)
      : name === 'dequantize'
        ? (['uniform', 'read', 'read', 'read', 'storage'] as const)
        : name === 'qlinear_forward_prep'
          ? (['uniform', 'read', 'storage', 'storage'] as const)
          : name === 'qlinear_forward'
            ? ([...R8, 'read'] as const)
            : R8;
  if (name === 'qlinear_forward_prep') return { shader: name, bindings, constants: { QB: bits } };
  if (name === 'qlinear_forward') return { shader: name, bindings, constants: { QP0, QP1, STEP_SCALE: stepScale ? 1 : 0 } };
  return { shader: name, bindings, constants: { QP0, QP1 } };
}


function pack(w: GpuQTensor, part: CodePart, T: number, R: number, loraScale: number, beta: number): ArrayBuffer {
  const I = w.cols;
  return params.pack({
    T,
    I,
    O: w.rows,
    G: w.groupSize,
    WPR: wordsPerRow(I, w.bits),
    NG: groupsPerRow(I, w.groupSize),
    R,
    O0: part.row0,
    OP: part.rows,
    lora_scale: loraScale,
    beta,
  });
}


/**
 * Which forward kernel a call runs: 'f16' (qlinear_forward_f16.wgsl, products
 * in f16) when the device grants shader-f16, 'blocked' (qlinear_forward.wgsl)
 * otherwise, and 'scalar' when I is not a multiple of 4 (no vec4 rows of X).
 */
export function forwardVariant(ctx: GpuContext, I: number, f16 = ctx.features.f16): 'f16' | 'blocked' | 'scalar' {
  if (I % 4 !== 0) return 'scalar';
  return f16 && ctx.features.f16 ? 'f16' : 'blocked';
}

/**
 * Shapes of the temporaries qlinearForward allocates for X besides X·Aᵀ, for
 * the memory planner: the f32 kernel's XP [T, I] and SX [T, NG], the f16
 * kernel's X in f16 [T, I/2] u32, none for the scalar kernel (I % 4 ≠ 0).
 */
export function qlinearForwardTemps(T: number, I: number, groupSize: number, f16: boolean): number[][] {
  if (I % 4 !== 0) return [];
  return f16 ? [[T, I / 2]] : [[T, I], [T, groupsPerRow(I, groupSize)]];
}

/** Temporaries of a call live until its commands are submitted: at once, or with the caller's encoder. */
function scope(ctx: GpuContext, encoder: GPUCommandEncoder | undefined) {
  const enc = encoder ?? ctx.device.createCommandEncoder();
  return {
    enc,
    temp<D extends 'f32' | 'u32' = 'f32'>(shape: number[], label: string, dtype = 'f32' as D): GpuTensor<D> {
      const t = GpuTensor.empty(ctx, shape, dtype, label);
      afterSubmit(enc, () => t.destroy());
      return t;
    },
    done() {
      if (!encoder) submit(ctx, enc);
    },
  };
}

export function qlinearForward(ctx: GpuContext, y: GpuTensor<'f32'>, x: GpuTensor<'f32'>, w: GpuQTensor, lora?: GpuLora, opts: QLinearOptions = {}): void {
  const [T, I] = x.shape;
  const O = w.rows;
  if (x.shape.length !== 2 || I !== w.cols || y.shape[0] !== T || y.shape[1] !== O)
    throw new RangeError(`qlinearForward: x [${x.shape}] · W [${O}, ${w.cols}]ᵀ → y [${y.shape}] do not fit`);
  const R = lora ? lora.a.shape[0] : 0;
  if (lora && (lora.a.shape[1] !== I || lora.b.shape[0] !== O || lora.b.shape[1] !== R))
    throw new RangeError(`qlinearForward: LoRA A [${lora.a.shape}] / B [${lora.b.shape}] do not fit W [${O}, ${I}]`);
  if (T === 0) return;
  if (w.vq) return vqlinearForward(ctx, y, x, w, lora, opts); // codebook tensor (kernels/vqlinear.ts)
  const sc = scope(ctx, opts.encoder);
  const enc = sc.enc;
  const xa = lora ? sc.temp([T, R], 'qlinear.xa') : sc.temp([1], 'qlinear.nolora');
  if (lora) matmul(ctx, xa, x, lora.a, { encoder: enc });
  // Bindings 2–7, the same for every forward kernel: this part's codes, scale, offset, X·Aᵀ, B, Y.
  const rest = (part: CodePart) => [part.codes.buffer, w.scale.buffer, w.offset.buffer, xa.buffer, (lora?.b ?? xa).buffer, y.buffer];
  const variant = forwardVariant(ctx, I, opts.f16);
  if (variant === 'scalar') {
    for (const part of w.codeParts)
      dispatch(ctx, kernel('qlinear_forward_scalar', w.bits), {
        uniform: pack(w, part, T, R, lora?.scale ?? 0, 0),
        buffers: [x.buffer, ...rest(part)],
        workgroups: [Math.ceil(part.rows / 64), Math.ceil(T / 4)],
        encoder: enc,
      });
  } else if (variant === 'f16') {
    const xh = sc.temp([T, I / 2], 'qlinear.xh', 'u32');
    castF16(ctx, xh, x, { encoder: enc });
    for (const part of w.codeParts)
      dispatch(ctx, kernel('qlinear_forward_f16', w.bits), {
        uniform: pack(w, part, T, R, lora?.scale ?? 0, 0),
        buffers: [xh.buffer, ...rest(part)],
        workgroups: [Math.ceil(part.rows / 64), Math.ceil(T / 32)], // as the f32 kernel
        encoder: enc,
      });
  } else {
    const { xp, sx } = qlinearForwardPrep(ctx, x, w, sc.temp, enc);
    const stepScale = w.groupSize <= STEP_SCALE_MAX_GROUP && w.groupSize < I;
    for (const part of w.codeParts)
      dispatch(ctx, kernel('qlinear_forward', w.bits, stepScale), {
        uniform: pack(w, part, T, R, lora?.scale ?? 0, 0),
        buffers: [xp.buffer, ...rest(part), sx.buffer],
        workgroups: [Math.ceil(part.rows / 64), Math.ceil(T / 32)], // 16 × 4 invocations of 4 rows × 8 tokens
        encoder: enc,
      });
  }
  sc.done();
}

/**
 * What qlinear_forward reads in place of X: XP [T, I], X prescaled per lane to
 * match the codes' decode, and SX [T, NG], Σx per group (qlinear_forward_prep.wgsl).
 * Exported for its test; `alloc` makes the two outputs (temporaries in qlinearForward).
 */
export function qlinearForwardPrep(
  ctx: GpuContext,
  x: GpuTensor<'f32'>,
  w: GpuQTensor,
  alloc: (shape: number[], label: string) => GpuTensor<'f32'>,
  encoder?: GPUCommandEncoder,
): { xp: GpuTensor<'f32'>; sx: GpuTensor<'f32'> } {
  const [T, I] = x.shape;
  const ng = groupsPerRow(I, w.groupSize);
  const xp = alloc([T, I], 'qlinear.xp');
  const sx = alloc([T, ng], 'qlinear.sx');
  dispatch(ctx, kernel('qlinear_forward_prep', w.bits), {
    uniform: pack(w, w.codeParts[0], T, 0, 0, 0),
    buffers: [x.buffer, xp.buffer, sx.buffer],
    workgroups: foldedGrid(T * ng, 64),
    encoder,
  });
  return { xp, sx };
}


/**
 * Backward of qlinearForward for the input x [T, I] and upstream dy [T, O].
 * Only what is asked for is computed: the integer codes never get a gradient.
 */
export function qlinearBackward(
  ctx: GpuContext,
  dy: GpuTensor<'f32'>,
  x: GpuTensor<'f32'>,
  w: GpuQTensor,
  grads: QLinearGrads,
  lora?: GpuLora,
  opts: QLinearOptions = {},
): void {
  const [T, I] = x.shape;
  const O = w.rows;
  if (dy.shape[0] !== T || dy.shape[1] !== O || I !== w.cols) throw new RangeError(`qlinearBackward: dy [${dy.shape}] / x [${x.shape}] do not fit W [${O}, ${w.cols}]`);
  if (!!grads.dscale !== !!grads.doffset) throw new RangeError('qlinearBackward: dscale and doffset are computed together');
  if ((grads.da || grads.db) && !lora) throw new RangeError('qlinearBackward: LoRA gradients asked for without LoRA factors');
  if (T === 0) return;
  if (w.vq) return vqlinearBackward(ctx, dy, x, w, grads, lora, opts); // codebook tensor (kernels/vqlinear.ts)
  const beta = grads.accumulate ? 1 : 0;
  const R = lora ? lora.a.shape[0] : 0;
  const sc = scope(ctx, opts.encoder);
  const enc = sc.enc;
  const temp = sc.temp;
  let u: GpuTensor<'f32'> | undefined;
  if (lora && (grads.dx || grads.da)) {
    u = temp([T, R], 'qlinear.u'); // U = dY·B
    matmulT(ctx, 'nn', u, dy, lora.b, { encoder: enc });
  }
  if (grads.dx) {
    const dummy = u ?? temp([1], 'qlinear.nolora');
    // Parts after the first accumulate into dx; the LoRA term is added once, with the first part.
    w.codeParts.forEach((part, i) =>
      dispatch(ctx, kernel('qlinear_backward_input', w.bits), {
        uniform: pack(w, part, T, u && i === 0 ? R : 0, lora?.scale ?? 0, i === 0 ? beta : 1),
        buffers: [dy.buffer, part.codes.buffer, w.scale.buffer, w.offset.buffer, dummy.buffer, (u ? lora!.a : dummy).buffer, grads.dx!.buffer],
        workgroups: [Math.ceil(I / 64), Math.ceil(T / 32)], // 16 × 4 invocations of 4 columns × 8 tokens
        encoder: enc,
      }),
    );
  }
  if (grads.dscale && grads.doffset)
    for (const part of w.codeParts)
      dispatch(ctx, kernel('qlinear_backward_quant', w.bits), {
        uniform: pack(w, part, T, 0, 0, beta),
        buffers: [x.buffer, dy.buffer, part.codes.buffer, grads.dscale.buffer, grads.doffset.buffer],
        workgroups: foldedGrid(groupsPerRow(I, w.groupSize) * Math.ceil(part.rows / 4), 64),
        encoder: enc,
      });
  if (lora && grads.da) matmulT(ctx, 'tn', grads.da, u!, x, { alpha: lora.scale, beta, encoder: enc }); // dA = s·Uᵀ·X
  if (lora && grads.db) {
    const xa = temp([T, R], 'qlinear.xa');
    matmul(ctx, xa, x, lora.a, { encoder: enc });
    matmulT(ctx, 'tn', grads.db, dy, xa, { alpha: lora.scale, beta, encoder: enc }); // dB = s·dYᵀ·(X·Aᵀ)
  }
  sc.done();
}

/** W [O, I] in f32 from a GpuQTensor. Tests and debugging only: no kernel needs a dequantized W. */
export function dequantizeGpu(ctx: GpuContext, w: GpuQTensor, out: GpuTensor<'f32'>): void {
  if (out.shape[0] !== w.rows || out.shape[1] !== w.cols) throw new RangeError(`dequantizeGpu: out [${out.shape}] is not [${w.rows}, ${w.cols}]`);
  if (w.vq) return vqDequantizeGpu(ctx, w, out); // codebook tensor (kernels/vqlinear.ts)
  const enc = ctx.device.createCommandEncoder();
  for (const part of w.codeParts)
    dispatch(ctx, kernel('dequantize', w.bits), {
      uniform: pack(w, part, 0, 0, 0, 0),
      buffers: [part.codes.buffer, w.scale.buffer, w.offset.buffer, out.buffer],
      workgroups: foldedGrid(part.rows * Math.ceil(w.cols / 4), 64),
      encoder: enc,
    });
  submit(ctx, enc);
}
