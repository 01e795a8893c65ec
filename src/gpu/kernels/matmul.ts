// Typed wrapper for Y[T,O] = X[T,I] · W[O,I]ᵀ with three interchangeable kernels:
//   naive   one output per invocation (baseline, any shape)
//   blocked 4×4 register tile with vec4 loads, no workgroup memory (needs I % 4 == 0)
//   tiled   64×64 workgroup tile staged in workgroup memory (real GPUs)
// `auto` picks naive when I is not a multiple of 4 (vec4 rows would be
// misaligned), blocked on software adapters and for short inputs (T < 64: a
// 64-row tile would be mostly idle, e.g. decode at T = 1), tiled otherwise.
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';

export type MatmulVariant = 'naive' | 'blocked' | 'tiled';
export const MATMUL_VARIANTS: readonly MatmulVariant[] = ['naive', 'blocked', 'tiled'];

const params = new UniformStruct({ T: 'u32', I: 'u32', O: 'u32' });
const BIND = ['uniform', 'read', 'read', 'storage'] as const;
const KERNELS: Record<MatmulVariant, KernelDef> = {
  naive: { shader: 'matmul_naive', bindings: BIND },
  blocked: { shader: 'matmul_blocked', bindings: BIND },
  tiled: { shader: 'matmul_tiled', bindings: BIND },
};

export function chooseMatmulVariant(ctx: GpuContext, T: number, I: number): MatmulVariant {
  if (I % 4 !== 0) return 'naive';
  return ctx.adapter.isSoftware || T < 64 ? 'blocked' : 'tiled';
}

function workgroups(v: MatmulVariant, T: number, O: number): [number, number] {
  const div = (a: number, b: number) => Math.ceil(a / b);
  switch (v) {
    case 'naive':
      return [div(O, 16), div(T, 4)];
    case 'blocked':
      return [div(O, 32), div(T, 32)];
    case 'tiled':
      return [div(O, 64), div(T, 64)];
  }
}

export interface MatmulOptions {
  variant?: MatmulVariant | 'auto';
  encoder?: GPUCommandEncoder;
}

/** y ← x · wᵀ. Shapes: x [T, I], w [O, I], y [T, O]. Returns the variant used. */
export function matmul(ctx: GpuContext, y: GpuTensor<'f32'>, x: GpuTensor<'f32'>, w: GpuTensor<'f32'>, opts: MatmulOptions = {}): MatmulVariant {
  const [T, I] = x.shape;
  const [O, I2] = w.shape;
  if (x.shape.length !== 2 || w.shape.length !== 2 || I !== I2 || y.shape[0] !== T || y.shape[1] !== O || y.shape.length !== 2)
    throw new RangeError(`matmul: shapes x [${x.shape}] · w [${w.shape}]ᵀ → y [${y.shape}] do not fit Y[T,O] = X[T,I]·W[O,I]ᵀ`);
  const v = !opts.variant || opts.variant === 'auto' ? chooseMatmulVariant(ctx, T, I) : opts.variant;
  if (v === 'blocked' && I % 4 !== 0) throw new RangeError(`matmul: the blocked kernel needs I % 4 == 0, got I = ${I}`);
  if (T === 0 || O === 0) return v;
  dispatch(ctx, KERNELS[v], {
    uniform: params.pack({ T, I, O }),
    buffers: [x.buffer, w.buffer, y.buffer],
    workgroups: workgroups(v, T, O),
    encoder: opts.encoder,
  });
  return v;
}
