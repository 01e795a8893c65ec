// The codebook tensor's side of the quantized linear layer: qlinearForward,
// qlinearBackward and dequantizeGpu (qlinear.ts) hand a GpuQTensor with `vq`
// set (src/gpu/vq_gpu.ts) to the functions here, so model code needs no change.
//   vqlinearForward    y ← x · Wᵀ (+ s · (x·Aᵀ)·Bᵀ)      vqlinear_forward(_f16).wgsl (+ vqlinear_group_sums)
//   vqlinearBackward   dx, dscale/doffset, dA/dB         vqlinear_backward_*.wgsl + matmul_strided
//   vqDequantizeGpu    W in f32 (tests)                  vq_dequantize.wgsl
// Each layout (vector length, index bits, signs) gets its own pipelines through
// the override constants of shaders/include/vqcode.wgsl. The kernels need
// I % 4 == 0 (vec4 rows; every ggml codebook type has rows of 256k).
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { afterSubmit, dispatch, submit, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import type { CodePart, GpuQTensor, GpuVq } from '../qtensor_gpu.ts';
import type { GpuLora, QLinearGrads, QLinearOptions } from './qlinear_types.ts';
import { matmul } from './matmul.ts';
import { matmulT } from './matmul_strided.ts';
import { foldedGrid } from './elementwise.ts';
import { castF16 } from './cast.ts';

/** qlinear.ts's uniform layout plus the codebook's facts (the WGSL Params of every vq kernel). */
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
  IW: 'u32',
  TMAX: 'f32',
});

type Kernel = 'vqlinear_forward' | 'vqlinear_forward_f16' | 'vqlinear_group_sums' | 'vqlinear_backward_input' | 'vqlinear_backward_quant' | 'vq_dequantize';
const BINDINGS: Record<Kernel, KernelDef['bindings']> = {
  vqlinear_forward: ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'storage', 'read'],
  vqlinear_forward_f16: ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'storage', 'read'],
  vqlinear_group_sums: ['uniform', 'read', 'storage'],
  vqlinear_backward_input: ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'storage', 'read'],
  vqlinear_backward_quant: ['uniform', 'read', 'read', 'read', 'storage', 'storage', 'read'],
  vq_dequantize: ['uniform', 'read', 'read', 'read', 'storage', 'read'],
};

/** Groups this short take the per-step scale scheme (as qlinear_forward). */
const STEP_SCALE_MAX_GROUP = 32;

function kernel(name: Kernel, vq: GpuVq, stepScale = false): KernelDef {
  const constants: Record<string, number> = { VD: vq.dim, VB: vq.indexBits, VS: vq.signed ? 1 : 0 };
  if (name === 'vqlinear_group_sums') return { shader: name, bindings: BINDINGS[name] };
  if (name === 'vqlinear_forward') constants.STEP_SCALE = stepScale ? 1 : 0;
  return { shader: name, bindings: BINDINGS[name], constants };
}

function vqOf(w: GpuQTensor): GpuVq {
  if (!w.vq) throw new TypeError('vqlinear: not a codebook tensor');
  if (w.cols % 4 !== 0) throw new RangeError(`vqlinear: rows of ${w.cols} weights; the codebook kernels need a multiple of 4`);
  return w.vq;
}

function pack(w: GpuQTensor, vq: GpuVq, part: CodePart, T: number, R: number, loraScale: number, beta: number): ArrayBuffer {
  return params.pack({
    T,
    I: w.cols,
    O: w.rows,
    G: w.groupSize,
    WPR: vq.wordsPerRow,
    NG: Math.ceil(w.cols / w.groupSize),
    R,
    O0: part.row0,
    OP: part.rows,
    lora_scale: loraScale,
    beta,
    IW: vq.indexWords,
    TMAX: vq.tableMax,
  });
}

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

/** qlinearForward for a codebook tensor (shapes already checked by the caller). */
export function vqlinearForward(ctx: GpuContext, y: GpuTensor<'f32'>, x: GpuTensor<'f32'>, w: GpuQTensor, lora: GpuLora | undefined, opts: QLinearOptions = {}): void {
  const vq = vqOf(w);
  const [T, I] = x.shape;
  if (T === 0) return;
  const R = lora ? lora.a.shape[0] : 0;
  const NG = Math.ceil(I / w.groupSize);
  const sc = scope(ctx, opts.encoder);
  const enc = sc.enc;
  const f16 = (opts.f16 ?? true) && ctx.features.f16;
  // The f32 kernel reads X·Aᵀ and Σx per group from one buffer (see vqlinear_forward.wgsl).
  const aux = sc.temp([T * R + (f16 ? 0 : T * NG) || 1], 'vqlinear.aux');
  if (lora) {
    const xa = sc.temp([T, R], 'vqlinear.xa');
    matmul(ctx, xa, x, lora.a, { encoder: enc });
    enc.copyBufferToBuffer(xa.buffer, 0, aux.buffer, 0, T * R * 4);
  }
  const rest = (part: CodePart) => [part.codes.buffer, w.scale.buffer, w.offset.buffer, aux.buffer, (lora?.b ?? aux).buffer, y.buffer, vq.table.buffer];
  if (f16) {
    const xh = sc.temp([T, I / 2], 'vqlinear.xh', 'u32');
    castF16(ctx, xh, x, { encoder: enc });
    for (const part of w.codeParts)
      dispatch(ctx, kernel('vqlinear_forward_f16', vq), {
        uniform: pack(w, vq, part, T, R, lora?.scale ?? 0, 0),
        buffers: [xh.buffer, ...rest(part)],
        workgroups: [Math.ceil(part.rows / 64), Math.ceil(T / 32)],
        encoder: enc,
      });
  } else {
    dispatch(ctx, kernel('vqlinear_group_sums', vq), {
      uniform: pack(w, vq, w.codeParts[0], T, R, 0, 0),
      buffers: [x.buffer, aux.buffer],
      workgroups: foldedGrid(T * NG, 64),
      encoder: enc,
    });
    const stepScale = w.groupSize <= STEP_SCALE_MAX_GROUP && w.groupSize < I;
    for (const part of w.codeParts)
      dispatch(ctx, kernel('vqlinear_forward', vq, stepScale), {
        uniform: pack(w, vq, part, T, R, lora?.scale ?? 0, 0),
        buffers: [x.buffer, ...rest(part)],
        workgroups: [Math.ceil(part.rows / 64), Math.ceil(T / 32)], // 16 × 4 invocations of 4 rows × 8 tokens
        encoder: enc,
      });
  }
  sc.done();
}

/** qlinearBackward for a codebook tensor (arguments already checked by the caller). */
export function vqlinearBackward(ctx: GpuContext, dy: GpuTensor<'f32'>, x: GpuTensor<'f32'>, w: GpuQTensor, grads: QLinearGrads, lora: GpuLora | undefined, opts: QLinearOptions = {}): void {
  const vq = vqOf(w);
  const [T, I] = x.shape;
  if (T === 0) return;
  const beta = grads.accumulate ? 1 : 0;
  const R = lora ? lora.a.shape[0] : 0;
  const sc = scope(ctx, opts.encoder);
  const enc = sc.enc;
  let u: GpuTensor<'f32'> | undefined;
  if (lora && (grads.dx || grads.da)) {
    u = sc.temp([T, R], 'vqlinear.u'); // U = dY·B
    matmulT(ctx, 'nn', u, dy, lora.b, { encoder: enc });
  }
  if (grads.dx) {
    const dummy = u ?? sc.temp([1], 'vqlinear.nolora');
    // Parts after the first accumulate into dx; the LoRA term is added once, with the first part.
    w.codeParts.forEach((part, i) =>
      dispatch(ctx, kernel('vqlinear_backward_input', vq), {
        uniform: pack(w, vq, part, T, u && i === 0 ? R : 0, lora?.scale ?? 0, i === 0 ? beta : 1),
        buffers: [dy.buffer, part.codes.buffer, w.scale.buffer, w.offset.buffer, dummy.buffer, (u ? lora!.a : dummy).buffer, grads.dx!.buffer, vq.table.buffer],
        workgroups: [Math.ceil(I / 64), Math.ceil(T / 32)],
        encoder: enc,
      }),
    );
  }
  if (grads.dscale && grads.doffset)
    for (const part of w.codeParts)
      dispatch(ctx, kernel('vqlinear_backward_quant', vq), {
        uniform: pack(w, vq, part, T, 0, 0, beta),
        buffers: [x.buffer, dy.buffer, part.codes.buffer, grads.dscale.buffer, grads.doffset.buffer, vq.table.buffer],
        workgroups: foldedGrid(Math.ceil(I / w.groupSize) * Math.ceil(part.rows / 4), 64),
        encoder: enc,
      });
  if (lora && grads.da) matmulT(ctx, 'tn', grads.da, u!, x, { alpha: lora.scale, beta, encoder: enc });
  if (lora && grads.db) {
    const xa = sc.temp([T, R], 'vqlinear.xa');
    matmul(ctx, xa, x, lora.a, { encoder: enc });
    matmulT(ctx, 'tn', grads.db, dy, xa, { alpha: lora.scale, beta, encoder: enc });
  }
  sc.done();
}

/** W [O, I] in f32 from a codebook tensor. Tests and debugging only. */
export function vqDequantizeGpu(ctx: GpuContext, w: GpuQTensor, out: GpuTensor<'f32'>): void {
  if (!w.vq) throw new TypeError('vqDequantizeGpu: not a codebook tensor');
  const vq = w.vq;
  const enc = ctx.device.createCommandEncoder();
  for (const part of w.codeParts)
    dispatch(ctx, kernel('vq_dequantize', vq), {
      uniform: pack(w, vq, part, 0, 0, 0, 0),
      buffers: [part.codes.buffer, w.scale.buffer, w.offset.buffer, out.buffer, vq.table.buffer],
      workgroups: foldedGrid(part.rows * Math.ceil(w.cols / 4), 64),
      encoder: enc,
    });
  submit(ctx, enc);
}
