// The one dispatch path of the MLP's gated activations, h ← act(g) ⊙ u, and
// their gradients: SwiGLU (Llama family, swiglu_*.wgsl) and GeGLU with GeLU's
// tanh form (Gemma 3, geglu_*.wgsl). The shaders differ only in act and act';
// the shapes, aliasing rules and grid are the same, so they are checked here once.
// Shapes: g, u, h, dh, dg, du all [N, F] (any shapes with equal element counts).
import type { GpuContext } from '../device.ts';
import type { GpuTensor } from '../buffers.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count, foldedGrid, type KernelOptions } from './elementwise.ts';

const WG = 256;
const params = new UniformStruct({ n: 'u32' });

export type GatedKind = 'swiglu' | 'geglu';

const FWD: Record<GatedKind, KernelDef> = {
  swiglu: { shader: 'swiglu_forward', bindings: ['uniform', 'read', 'read', 'storage'] },
  geglu: { shader: 'geglu_forward', bindings: ['uniform', 'read', 'read', 'storage'] },
};
const BWD: Record<GatedKind, KernelDef> = {
  swiglu: { shader: 'swiglu_backward', bindings: ['uniform', 'read', 'read', 'read', 'storage', 'storage'] },
  geglu: { shader: 'geglu_backward', bindings: ['uniform', 'read', 'read', 'read', 'storage', 'storage'] },
};

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

/** h ← act(g) ⊙ u; `what` names the caller in errors. */
export function gatedForward(kind: GatedKind, what: string, ctx: GpuContext, h: GpuTensor<'f32'>, g: GpuTensor<'f32'>, u: GpuTensor<'f32'>, opts: KernelOptions = {}): void {
  const n = check(what, { h }, { g, u });
  if (n === 0) return;
  dispatch(ctx, FWD[kind], { uniform: params.pack({ n }), buffers: [g.buffer, u.buffer, h.buffer], workgroups: foldedGrid(n, WG, opts.foldAt), encoder: opts.encoder });
}

/** dg ← dh ⊙ u ⊙ act'(g), du ← dh ⊙ act(g) (both overwritten). */
export function gatedBackward(
  kind: GatedKind,
  what: string,
  ctx: GpuContext,
  grads: { dg: GpuTensor<'f32'>; du: GpuTensor<'f32'> },
  dh: GpuTensor<'f32'>,
  g: GpuTensor<'f32'>,
  u: GpuTensor<'f32'>,
  opts: KernelOptions = {},
): void {
  const n = check(what, { dg: grads.dg, du: grads.du }, { dh, g, u });
  if (n === 0) return;
  dispatch(ctx, BWD[kind], {
    uniform: params.pack({ n }),
    buffers: [dh.buffer, g.buffer, u.buffer, grads.dg.buffer, grads.du.buffer],
    workgroups: foldedGrid(n, WG, opts.foldAt),
    encoder: opts.encoder,
  });
}
