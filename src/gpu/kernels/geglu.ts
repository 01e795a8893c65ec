// Typed wrappers of the GeGLU gate of Gemma's MLP (GeLU, tanh approximation):
//   gegluForward   h ← gelu_tanh(g) ⊙ u          geglu_forward.wgsl
//   gegluBackward  dg, du from dh, g, u     geglu_backward.wgsl
// Shapes: g, u, h, dh, dg, du all [N, F] (any shapes with equal element counts);
// the checks and the dispatch are the gated activations' shared ones (gated.ts).
import type { GpuContext } from '../device.ts';
import type { GpuTensor } from '../buffers.ts';
import type { KernelOptions } from './elementwise.ts';
import { gatedBackward, gatedForward } from './gated.ts';

/** h ← gelu_tanh(g) ⊙ u. */
export function gegluForward(ctx: GpuContext, h: GpuTensor<'f32'>, g: GpuTensor<'f32'>, u: GpuTensor<'f32'>, opts: KernelOptions = {}): void {
  gatedForward('geglu', 'gegluForward', ctx, h, g, u, opts);
}

/** dg ← dh ⊙ u ⊙ gelu_tanh'(g), du ← dh ⊙ gelu_tanh(g) (both overwritten). */
export function gegluBackward(
  ctx: GpuContext,
  grads: { dg: GpuTensor<'f32'>; du: GpuTensor<'f32'> },
  dh: GpuTensor<'f32'>,
  g: GpuTensor<'f32'>,
  u: GpuTensor<'f32'>,
  opts: KernelOptions = {},
): void {
  gatedBackward('geglu', 'gegluBackward', ctx, grads, dh, g, u, opts);
}
