// Typed wrappers of the GeGLU gate of Gemma's MLP (GeLU, tanh approximation):
//   gegluForward   h ← gelu_tanh(g) ⊙ u       geglu_forward.wgsl
//   gegluBackward  dg, du from dh, g, u       geglu_backward.wgsl
// Shapes: g, u, h, dh, dg, du all [N, F] (any shapes with equal element counts),
// as the SwiGLU wrappers (src/gpu/kernels/swiglu.ts), whose checks these share.
import type { GpuContext } from '../device.ts';
import type { GpuTensor } from '../buffers.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count, foldedGrid, type KernelOptions } from './elementwise.ts';

const WG = 256;
const params = new UniformStruct({ n: 'u32' });
const FWD: KernelDef = { shader: 'geglu_forward', bindings: ['uniform', 'read', 'read', 'storage'] };
const BWD: KernelDef = { shader: 'geglu_backward', bindings: ['uniform', 'read', 'read', 'read', 'storage', 'storage'] };

function check(what: string, outs: Record<string, GpuTensor<'f32'>>, ins: Record<string, GpuTensor<'f32'>>): number {
  const all = { ...outs, ...ins };
  const n = Object.values(all)[0].size;
  if (Object.values(all).some((t) => t.size !== n))
    throw new RangeError(`${what}: sizes differ (${Object.entries(all).map(([k, t]) => `${k} [${t.shape}]`).join(', ')})`);
  const o = Object.values(outs);
  if (new Set(o).size !== o.length || o.some((t) => Object.values(ins).includes(t)))
    throw new RangeError(`${what}: an output aliases another binding (WebGPU forbids a buffer bound writable and read at once)`);
  checkU32Count(what, n);
  return n;
}

/** h ← gelu_tanh(g) ⊙ u. */
export function gegluForward(ctx: GpuContext, h: GpuTensor<'f32'>, g: GpuTensor<'f32'>, u: GpuTensor<'f32'>, opts: KernelOptions = {}): void {
  const n = check('gegluForward', { h }, { g, u });
  if (n === 0) return;
  dispatch(ctx, FWD, { uniform: params.pack({ n }), buffers: [g.buffer, u.buffer, h.buffer], workgroups: foldedGrid(n, WG, opts.foldAt), encoder: opts.encoder });
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
  const n = check('gegluBackward', { dg: grads.dg, du: grads.du }, { dh, g, u });
  if (n === 0) return;
  dispatch(ctx, BWD, {
    uniform: params.pack({ n }),
    buffers: [dh.buffer, g.buffer, u.buffer, grads.dg.buffer, grads.du.buffer],
    workgroups: foldedGrid(n, WG, opts.foldAt),
    encoder: opts.encoder,
  });
}
