// Typed wrapper of the per-example squared-gradient accumulation (fisher_accumulate.wgsl):
//   fisherAccumulate   F[o, i] += Σ_e (Σ_{t ∈ e} dY[t, o]·X[t, i])²
// dY [..., O] and X [..., I] with the same E·T rows (E examples of T rows each,
// `examples` = E; with `rowsPerExample` only the first E·T rows), F [O, I]. The diagonal empirical Fisher of a linear weight
// (src/train/fisher.ts) records it into the backward's encoder for each layer.
import type { GpuContext } from '../device.ts';
import type { GpuTensor } from '../buffers.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count, type KernelOptions } from './elementwise.ts';

/** Output tile side (TS in fisher_accumulate.wgsl). */
const TILE = 16;
const params = new UniformStruct({ E: 'u32', T: 'u32', O: 'u32', I: 'u32' });
const KERNEL: KernelDef = { shader: 'fisher_accumulate', bindings: ['uniform', 'read', 'read', 'storage'] };

/** f += Σ over `examples` equal slices of the rows of (dYᵀ·X)² (see the file comment). */
export function fisherAccumulate(ctx: GpuContext, f: GpuTensor<'f32'>, dy: GpuTensor<'f32'>, x: GpuTensor<'f32'>, examples: number, opts: KernelOptions & { rowsPerExample?: number } = {}): void {
  const O = dy.shape[dy.shape.length - 1];
  const I = x.shape[x.shape.length - 1];
  if (O === undefined || I === undefined || f.shape.length !== 2 || f.shape[0] !== O || f.shape[1] !== I)
    throw new RangeError(`fisherAccumulate: accumulator [${f.shape}] is not [O, I] of dY [${dy.shape}] and X [${x.shape}]`);
  if (f.buffer === x.buffer || f.buffer === dy.buffer) throw new RangeError('fisherAccumulate: the accumulator shares a buffer with an input');
  checkU32Count('fisherAccumulate', Math.max(dy.size, x.size, f.size));
  const N = dy.size / O;
  if (x.size / I !== N) throw new RangeError(`fisherAccumulate: dY [${dy.shape}] and X [${x.shape}] have different row counts`);
  // rowsPerExample: only the first examples·rowsPerExample rows count (a short last batch); default N / examples.
  const T = opts.rowsPerExample ?? N / examples;
  if (!Number.isInteger(examples) || examples < 1 || !Number.isInteger(T) || T < 1 || examples * T > N) throw new RangeError(`fisherAccumulate: ${N} rows do not hold ${examples} examples of ${T} rows`);
  if (O === 0 || I === 0) return;
  dispatch(ctx, KERNEL, { uniform: params.pack({ E: examples, T, O, I }), buffers: [dy.buffer, x.buffer, f.buffer], workgroups: [Math.ceil(I / TILE), Math.ceil(O / TILE)], encoder: opts.encoder });
}
