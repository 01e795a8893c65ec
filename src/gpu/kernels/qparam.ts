// GPU side of the trainable parametrizations: upload the constant maps once,
// then per step θ → (scale, offset) before the forward pass and
// (dscale, doffset) → dθ after the backward pass.
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import type { Parametrization } from '../../quant/parametrize.ts';
import { foldedGrid } from './elementwise.ts';

const FWD: KernelDef = { shader: 'qparam_forward', bindings: ['uniform', 'read', 'read', 'read', 'read', 'read', 'storage', 'storage'] };
const BWD: KernelDef = { shader: 'qparam_backward', bindings: ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'storage'] };
const fwdParams = new UniformStruct({ G: 'u32' });
const bwdParams = new UniformStruct({ N: 'u32', beta: 'f32' });

export interface GpuParametrization {
  kind: Parametrization['kind'];
  groups: number;
  theta: GpuTensor<'f32'>;
  maps: Record<'a' | 'b' | 'coef', GpuTensor<'f32'>> & Record<'ps' | 'pm' | 'ptr' | 'group' | 'isOffset', GpuTensor<'u32'>>;
  destroy(): void;
}

export function uploadParametrization(ctx: GpuContext, p: Parametrization, label = 'qparam'): GpuParametrization {
  const f = (v: Float32Array, n: string) => GpuTensor.from(ctx, v, [v.length], 'f32', `${label}.${n}`);
  const u = (v: Uint32Array, n: string) => GpuTensor.from(ctx, v, [v.length], 'u32', `${label}.${n}`);
  const maps = { a: f(p.a, 'a'), b: f(p.b, 'b'), coef: f(p.coef, 'coef'), ps: u(p.ps, 'ps'), pm: u(p.pm, 'pm'), ptr: u(p.ptr, 'ptr'), group: u(p.group, 'group'), isOffset: u(p.isOffset, 'isOffset') };
  const theta = f(p.theta, 'theta');
  return {
    kind: p.kind,
    groups: p.a.length,
    theta,
    maps,
    destroy() {
      theta.destroy();
      Object.values(maps).forEach((t) => t.destroy());
    },
  };
}

export function qparamForward(ctx: GpuContext, p: GpuParametrization, scale: GpuTensor<'f32'>, offset: GpuTensor<'f32'>, encoder?: GPUCommandEncoder): void {
  if (scale.size !== p.groups || offset.size !== p.groups) throw new RangeError(`qparamForward: scale/offset hold ${scale.size}/${offset.size} values, expected ${p.groups}`);
  const m = p.maps;
  dispatch(ctx, FWD, {
    uniform: fwdParams.pack({ G: p.groups }),
    buffers: [p.theta.buffer, m.a.buffer, m.ps.buffer, m.b.buffer, m.pm.buffer, scale.buffer, offset.buffer],
    workgroups: foldedGrid(p.groups, 64),
    encoder,
  });
}

export function qparamBackward(
  ctx: GpuContext,
  p: GpuParametrization,
  dscale: GpuTensor<'f32'>,
  doffset: GpuTensor<'f32'>,
  dtheta: GpuTensor<'f32'>,
  opts: { accumulate?: boolean; encoder?: GPUCommandEncoder } = {},
): void {
  const N = p.theta.size;
  if (dtheta.size !== N) throw new RangeError(`qparamBackward: dtheta holds ${dtheta.size} values, expected ${N}`);
  const m = p.maps;
  dispatch(ctx, BWD, {
    uniform: bwdParams.pack({ N, beta: opts.accumulate ? 1 : 0 }),
    buffers: [m.ptr.buffer, m.group.buffer, m.coef.buffer, m.isOffset.buffer, dscale.buffer, doffset.buffer, dtheta.buffer],
    workgroups: foldedGrid(N, 64),
    encoder: opts.encoder,
  });
}
