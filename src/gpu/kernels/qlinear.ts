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
