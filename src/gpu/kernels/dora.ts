// Typed wrappers of DoRA's kernels (PEFT's semantics, formats-2.md §5; the
// orchestration around a model's linear layer is src/model/dora.ts):
//   doraNorm      n[o] ← ‖W_o + s·(B·A)_o‖ from ‖W_o‖², A·Wᵀ, A·Aᵀ   dora_norm.wgsl
//   doraScale     y[t, o] ← y[t, o] · m[o] / n[o]                     dora_scale.wgsl (in place)
//   doraBackward  dz ← dy · m / n;  dm (+)= Σ_t dy · z / n             dora_backward.wgsl
// All f32: the norm is per step over R "tokens" (cheap next to the layer's
// forward), and the two elementwise passes are memory-bound; the layer's own
// product keeps the f16 kernel where the device has it (qlinear.ts).
import type { GpuContext } from '../device.ts';
import type { GpuTensor } from '../buffers.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count, foldedGrid, type KernelOptions } from './elementwise.ts';

const WG = 256;
const normParams = new UniformStruct({ O: 'u32', R: 'u32', s: 'f32' });
const scaleParams = new UniformStruct({ count: 'u32', O: 'u32' });
const backParams = new UniformStruct({ T: 'u32', O: 'u32', beta: 'f32' });
const NORM: KernelDef = { shader: 'dora_norm', bindings: ['uniform', 'read', 'read', 'read', 'read', 'storage'] };
const SCALE: KernelDef = { shader: 'dora_scale', bindings: ['uniform', 'read', 'read', 'storage'], constants: { WG } };
const BACK: KernelDef = { shader: 'dora_backward', bindings: ['uniform', 'read', 'read', 'read', 'read', 'storage', 'storage'] };

const vecOf = (t: GpuTensor<'f32'>, O: number, what: string, name: string) => {
  if (t.shape.length !== 1 || t.size !== O) throw new RangeError(`${what}: ${name} [${t.shape}] is not [${O}]`);
};

/** n [O] from wsq [O] (‖W_o‖²), awt [R, O] (A·Wᵀ), b [O, R], g [R, R] (A·Aᵀ) and s. */
export function doraNorm(ctx: GpuContext, n: GpuTensor<'f32'>, wsq: GpuTensor<'f32'>, awt: GpuTensor<'f32'>, b: GpuTensor<'f32'>, g: GpuTensor<'f32'>, scale: number, opts: KernelOptions = {}): void {
  const [O, R] = b.shape;
  vecOf(n, O, 'doraNorm', 'n');
  vecOf(wsq, O, 'doraNorm', 'wsq');
  if (awt.shape[0] !== R || awt.shape[1] !== O || g.shape[0] !== R || g.shape[1] !== R) throw new RangeError(`doraNorm: A·Wᵀ [${awt.shape}] / A·Aᵀ [${g.shape}] do not fit B [${b.shape}]`);
  if (O === 0) return;
  dispatch(ctx, NORM, { uniform: normParams.pack({ O, R, s: scale }), buffers: [wsq.buffer, awt.buffer, b.buffer, g.buffer, n.buffer], workgroups: foldedGrid(O, 64, opts.foldAt), encoder: opts.encoder });
}

/** y [..., O] ← y · m / n, column-wise, in place. */
export function doraScale(ctx: GpuContext, y: GpuTensor<'f32'>, m: GpuTensor<'f32'>, n: GpuTensor<'f32'>, opts: KernelOptions = {}): void {
  const O = y.shape[y.shape.length - 1];
  vecOf(m, O, 'doraScale', 'm');
  vecOf(n, O, 'doraScale', 'n');
  checkU32Count('doraScale', y.size);
  if (y.size === 0) return;
  dispatch(ctx, SCALE, { uniform: scaleParams.pack({ count: y.size, O }), buffers: [m.buffer, n.buffer, y.buffer], workgroups: foldedGrid(y.size, WG, opts.foldAt), encoder: opts.encoder });
}

/** dz [T, O] ← dy · m / n; dm [O] ← Σ_t dy · z / n (added to dm with `accumulate`). z: the unscaled output. */
export function doraBackward(
  ctx: GpuContext,
  dy: GpuTensor<'f32'>,
  z: GpuTensor<'f32'>,
  m: GpuTensor<'f32'>,
  n: GpuTensor<'f32'>,
  dz: GpuTensor<'f32'>,
  dm: GpuTensor<'f32'>,
  opts: KernelOptions & { accumulate?: boolean } = {},
): void {
  const [T, O] = dy.shape;
  if (dy.shape.length !== 2 || z.shape[0] !== T || z.shape[1] !== O || dz.shape[0] !== T || dz.shape[1] !== O) throw new RangeError(`doraBackward: dy [${dy.shape}], z [${z.shape}], dz [${dz.shape}] differ`);
  if (dz.buffer === dy.buffer || dz.buffer === z.buffer) throw new RangeError('doraBackward: dz shares a buffer with dy or z');
  for (const [t, name] of [[m, 'm'], [n, 'n'], [dm, 'dm']] as const) vecOf(t, O, 'doraBackward', name);
  checkU32Count('doraBackward', dy.size);
  if (O === 0) return;
  dispatch(ctx, BACK, {
    uniform: backParams.pack({ T, O, beta: opts.accumulate ? 1 : 0 }),
    buffers: [dy.buffer, z.buffer, m.buffer, n.buffer, dz.buffer, dm.buffer],
    workgroups: [Math.ceil(O / 64)],
    encoder: opts.encoder,
  });
}
