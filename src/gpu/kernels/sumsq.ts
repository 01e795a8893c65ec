// Typed wrapper of the column sum of squares (sumsq_columns.wgsl):
//   sumsqColumns   acc[i] ← acc[i] + Σ_t x[t, i]²     x [..., I] (rows = all leading dims), acc [I]
// The importance-matrix collector (src/model/imatrix.ts) records it into the
// forward's encoder right after each distinct linear input is computed.
import type { GpuContext } from '../device.ts';
import type { GpuTensor } from '../buffers.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count, type KernelOptions } from './elementwise.ts';

/** Columns per workgroup (WX in sumsq_columns.wgsl). */
const COLS_PER_GROUP = 64;
const params = new UniformStruct({ T: 'u32', I: 'u32' });
const KERNEL: KernelDef = { shader: 'sumsq_columns', bindings: ['uniform', 'read', 'storage'] };

/** acc += column sums of squares of x (x's last dimension must equal acc's length). */
export function sumsqColumns(ctx: GpuContext, acc: GpuTensor<'f32'>, x: GpuTensor<'f32'>, opts: KernelOptions = {}): void {
  const I = x.shape[x.shape.length - 1];
  if (acc.shape.length !== 1 || I === undefined || acc.size !== I) throw new RangeError(`sumsqColumns: accumulator [${acc.shape}] does not match the last dimension of x [${x.shape}]`);
  if (acc.buffer === x.buffer) throw new RangeError('sumsqColumns: x and the accumulator share a buffer');
  checkU32Count('sumsqColumns', x.size);
  const T = x.size / I;
  if (T === 0 || I === 0) return;
  dispatch(ctx, KERNEL, { uniform: params.pack({ T, I }), buffers: [x.buffer, acc.buffer], workgroups: [Math.ceil(I / COLS_PER_GROUP)], encoder: opts.encoder });
}
