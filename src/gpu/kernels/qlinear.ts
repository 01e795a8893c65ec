// Typed wrapper of qlinear_forward: y ← x · Wᵀ (+ loraScale · (x·Aᵀ)·Bᵀ), W a
// GpuQTensor dequantized inside the kernel. With LoRA, x·Aᵀ ([T,R], small) is
// computed first by the matmul kernel and the rank-R product is fused into the
// quantized kernel's epilogue.
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { dispatch, submit, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import type { GpuQTensor } from '../qtensor_gpu.ts';
import { matmul } from './matmul.ts';
import { matmulT } from './matmul_strided.ts';
import { groupsPerRow, wordsPerRow } from '../../quant/qtensor.ts';

const params = new UniformStruct({ T: 'u32', I: 'u32', O: 'u32', G: 'u32', bits: 'u32', WPR: 'u32', NG: 'u32', R: 'u32', lora_scale: 'f32' });
const FORWARD: KernelDef = {
  shader: 'qlinear_forward',
  bindings: ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'storage'],
};

export interface GpuLora {
  a: GpuTensor<'f32'>; // [R, I]
  b: GpuTensor<'f32'>; // [O, R]
  scale: number; // alpha / R
}

export function qlinearForward(ctx: GpuContext, y: GpuTensor<'f32'>, x: GpuTensor<'f32'>, w: GpuQTensor, lora?: GpuLora): void {
  const [T, I] = x.shape;
  const O = w.rows;
  if (x.shape.length !== 2 || I !== w.cols || y.shape[0] !== T || y.shape[1] !== O)
    throw new RangeError(`qlinearForward: x [${x.shape}] · W [${O}, ${w.cols}]ᵀ → y [${y.shape}] do not fit`);
  const R = lora ? lora.a.shape[0] : 0;
  if (lora && (lora.a.shape[1] !== I || lora.b.shape[0] !== O || lora.b.shape[1] !== R))
    throw new RangeError(`qlinearForward: LoRA A [${lora.a.shape}] / B [${lora.b.shape}] do not fit W [${O}, ${I}]`);
  if (T === 0) return;
  const enc = ctx.device.createCommandEncoder();
  let xa: GpuTensor<'f32'> | undefined;
  if (lora) {
    xa = GpuTensor.empty(ctx, [T, R], 'f32', 'qlinear.xa');
    matmul(ctx, xa, x, lora.a, { encoder: enc });
  }
  const dummy = xa ? undefined : GpuTensor.empty(ctx, [1], 'f32', 'qlinear.nolora');
  dispatch(ctx, FORWARD, {
    uniform: params.pack({
      T,
      I,
      O,
      G: w.groupSize,
      bits: w.bits,
      WPR: wordsPerRow(I, w.bits),
      NG: groupsPerRow(I, w.groupSize),
      R,
      lora_scale: lora?.scale ?? 0,
    }),
    buffers: [x.buffer, w.codes.buffer, w.scale.buffer, w.offset.buffer, (xa ?? dummy)!.buffer, (lora?.b ?? dummy)!.buffer, y.buffer],
    workgroups: [Math.ceil(O / 64), Math.ceil(T / 4)],
    encoder: enc,
  });
  submit(ctx, enc);
  xa?.destroy();
  dummy?.destroy();
}

const BACK_INPUT: KernelDef = {
  shader: 'qlinear_backward_input',
  bindings: ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'storage'],
};
const BACK_QUANT: KernelDef = { shader: 'qlinear_backward_quant', bindings: ['uniform', 'read', 'read', 'read', 'storage', 'storage'] };
const backInputParams = new UniformStruct({
  T: 'u32',
  I: 'u32',
  O: 'u32',
  G: 'u32',
  bits: 'u32',
  WPR: 'u32',
  NG: 'u32',
  R: 'u32',
  lora_scale: 'f32',
  beta: 'f32',
});
const backQuantParams = new UniformStruct({ T: 'u32', I: 'u32', O: 'u32', G: 'u32', bits: 'u32', WPR: 'u32', NG: 'u32', beta: 'f32' });

export interface QLinearGrads {
  /** dX [T, I]; omitted for the first layer's input. */
  dx?: GpuTensor<'f32'>;
  /** [O, NG] each; both or neither (PEQA). */
  dscale?: GpuTensor<'f32'>;
  doffset?: GpuTensor<'f32'>;
  /** LoRA factor gradients, [R, I] and [O, R]. */
  da?: GpuTensor<'f32'>;
  db?: GpuTensor<'f32'>;
  /** Accumulate into the gradient buffers (micro-batch accumulation) instead of overwriting. */
  accumulate?: boolean;
}

/**
 * Backward of qlinearForward for the input x [T, I] and upstream dy [T, O].
 * Only what is asked for is computed: the integer codes never get a gradient.
 */
export function qlinearBackward(ctx: GpuContext, dy: GpuTensor<'f32'>, x: GpuTensor<'f32'>, w: GpuQTensor, grads: QLinearGrads, lora?: GpuLora): void {
  const [T, I] = x.shape;
  const O = w.rows;
  if (dy.shape[0] !== T || dy.shape[1] !== O || I !== w.cols) throw new RangeError(`qlinearBackward: dy [${dy.shape}] / x [${x.shape}] do not fit W [${O}, ${w.cols}]`);
  if (!!grads.dscale !== !!grads.doffset) throw new RangeError('qlinearBackward: dscale and doffset are computed together');
  if ((grads.da || grads.db) && !lora) throw new RangeError('qlinearBackward: LoRA gradients asked for without LoRA factors');
  if (T === 0) return;
  const beta = grads.accumulate ? 1 : 0;
  const R = lora ? lora.a.shape[0] : 0;
  const WPR = wordsPerRow(I, w.bits);
  const NG = groupsPerRow(I, w.groupSize);
  const enc = ctx.device.createCommandEncoder();
  const temps: GpuTensor[] = [];
  const temp = (shape: number[], label: string) => {
    const t = GpuTensor.empty(ctx, shape, 'f32', label);
    temps.push(t);
    return t;
  };
  let u: GpuTensor<'f32'> | undefined;
  if (lora && (grads.dx || grads.da)) {
    u = temp([T, R], 'qlinear.u'); // U = dY·B
    matmulT(ctx, 'nn', u, dy, lora.b, { encoder: enc });
  }
  if (grads.dx) {
    const dummy = u ? undefined : temp([1], 'qlinear.nolora');
    dispatch(ctx, BACK_INPUT, {
      uniform: backInputParams.pack({ T, I, O, G: w.groupSize, bits: w.bits, WPR, NG, R: u ? R : 0, lora_scale: lora?.scale ?? 0, beta }),
      buffers: [dy.buffer, w.codes.buffer, w.scale.buffer, w.offset.buffer, (u ?? dummy)!.buffer, (u ? lora!.a : dummy)!.buffer, grads.dx.buffer],
      workgroups: [Math.ceil(I / 64), Math.ceil(T / 4)],
      encoder: enc,
    });
  }
  if (grads.dscale && grads.doffset)
    dispatch(ctx, BACK_QUANT, {
      uniform: backQuantParams.pack({ T, I, O, G: w.groupSize, bits: w.bits, WPR, NG, beta }),
      buffers: [x.buffer, dy.buffer, w.codes.buffer, grads.dscale.buffer, grads.doffset.buffer],
      workgroups: [Math.ceil(NG / 16), Math.ceil(O / 4)],
      encoder: enc,
    });
  if (lora && grads.da) matmulT(ctx, 'tn', grads.da, u!, x, { alpha: lora.scale, beta, encoder: enc }); // dA = s·Uᵀ·X
  if (lora && grads.db) {
    const xa = temp([T, R], 'qlinear.xa');
    matmul(ctx, xa, x, lora.a, { encoder: enc });
    matmulT(ctx, 'tn', grads.db, dy, xa, { alpha: lora.scale, beta, encoder: enc }); // dB = s·dYᵀ·(X·Aᵀ)
  }
  submit(ctx, enc);
  for (const t of temps) t.destroy();
}
