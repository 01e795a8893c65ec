// Typed wrappers of the SwiGLU gate of the Llama MLP:
//   swigluForward   h ← silu(g) ⊙ u          swiglu_forward.wgsl
//   swigluBackward  dg, du from dh, g, u     swiglu_backward.wgsl
// Shapes: g, u, h, dh, dg, du all [N, F] (any shapes with equal element counts);
// the checks and the dispatch are the gated activations' shared ones (gated.ts).
import type { GpuContext } from '../device.ts';
import type { GpuTensor } from '../buffers.ts';
import type { KernelOptions } from './elementwise.ts';
import { gatedBackward, gatedForward } from './gated.ts';

/** h ← silu(g) ⊙ u. */
export function swigluForward(ctx: GpuContext, h: GpuTensor<'f32'>, g: GpuTensor<'f32'>, u: GpuTensor<'f32'>, opts: KernelOptions = {}): void {
  gatedForward('swiglu', 'swigluForward', ctx, h, g, u, opts);
}

/** dg ← dh ⊙ u ⊙ silu'(g), du ← dh ⊙ silu(g) (both overwritten). */
export function swigluBackward(
  ctx: GpuContext,
  grads: { dg: GpuTensor<'f32'>; du: GpuTensor<'f32'> },
  dh: GpuTensor<'f32'>,
  g: GpuTensor<'f32'>,
  u: GpuTensor<'f32'>,
  opts: KernelOptions = {},
): void {
  gatedBackward('swiglu', 'swigluBackward', ctx, grads, dh, g, u, opts);
}
