// Typed wrappers of the elementwise kernels that have no other home:
//   add         y ← a + b      add.wgsl, entry main
//   accumulate  y ← y + b      add.wgsl, entry accumulate (residual stream, gradient sums)
// and the 1-D launch helper shared by every elementwise / per-row kernel here.
import type { GpuContext } from '../device.ts';
import type { GpuTensor } from '../buffers.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';

/** Most workgroups in one grid dimension that WebGPU guarantees (maxComputeWorkgroupsPerDimension). */
export const MAX_GROUPS_PER_DIM = 65535;

/**
 * Workgroups for `n` items in workgroups of `wg` items, folded into 2-D past the
 * per-dimension limit. Shaders recover the flat index as
 * `wid.x + wid.y · num_workgroups.x` (workgroups) or `gid.x + gid.y · num_workgroups.x · WG`
 * (invocations) and skip indices ≥ n: a folded grid overshoots by < 65535 groups.
 */
export function foldedGrid(n: number, wg: number, max = MAX_GROUPS_PER_DIM): [number, number] {
  if (!Number.isInteger(max) || max < 1 || max > MAX_GROUPS_PER_DIM) throw new RangeError(`foldedGrid: fold width ${max} is not in [1, ${MAX_GROUPS_PER_DIM}]`);
  const groups = Math.ceil(n / wg);
  return groups <= max ? [Math.max(groups, 1), 1] : [max, Math.ceil(groups / max)];
}

/** Every elementwise kernel here indexes with u32: more than 2³² − 1 values cannot be addressed. */
export function checkU32Count(what: string, n: number): void {
  if (n > 0xffffffff) throw new RangeError(`${what}: ${n} values exceed the 2³² − 1 a u32 index can address; split the tensor`);
}

const WG = 256;
const params = new UniformStruct({ n: 'u32' });
const ADD: KernelDef = { shader: 'add', bindings: ['uniform', 'read', 'storage', 'read'], constants: { WG } };
const ACC: KernelDef = { shader: 'add', entryPoint: 'accumulate', bindings: ['uniform', 'read', 'storage'], constants: { WG } };

/** Options every wrapper of this family takes. */
export interface KernelOptions {
  /** Record into this encoder instead of submitting at once. */
  encoder?: GPUCommandEncoder;
  /**
   * Fold 1-D grids at this many workgroups per dimension instead of 65535.
   * For tests: it exercises the folded indexing on small tensors.
   */
  foldAt?: number;
}

function sameSize(what: string, ...ts: GpuTensor<'f32'>[]): number {
  const n = ts[0].size;
  for (const t of ts)
    if (t.size !== n) throw new RangeError(`${what}: sizes differ (${ts.map((u) => `[${u.shape}]`).join(', ')})`);
  checkU32Count(what, n);
  return n;
}

/** y ← y + b (same element count; shapes may differ, e.g. [N, C] and [B, T, C]). */
export function accumulate(ctx: GpuContext, y: GpuTensor<'f32'>, b: GpuTensor<'f32'>, opts: KernelOptions = {}): void {
  const n = sameSize('accumulate', y, b);
  if (y === b) throw new RangeError('accumulate: y and b are the same tensor; scale it instead');
  if (n === 0) return;
  dispatch(ctx, ACC, { uniform: params.pack({ n }), buffers: [b.buffer, y.buffer], workgroups: foldedGrid(n, WG, opts.foldAt), encoder: opts.encoder });
}

/** y ← a + b. Passing y as a or b is allowed and runs the in-place form. */
export function add(ctx: GpuContext, y: GpuTensor<'f32'>, a: GpuTensor<'f32'>, b: GpuTensor<'f32'>, opts: KernelOptions = {}): void {
  const n = sameSize('add', y, a, b);
  if (y === a) return accumulate(ctx, y, b, opts);
  if (y === b) return accumulate(ctx, y, a, opts);
  if (n === 0) return;
  dispatch(ctx, ADD, { uniform: params.pack({ n }), buffers: [b.buffer, y.buffer, a.buffer], workgroups: foldedGrid(n, WG, opts.foldAt), encoder: opts.encoder });
}
