// Token embedding lookup x[N, C] = E[ids[n], :] from an f32 table
// (embedding_forward.wgsl) or from a quantized one, gathering and dequantizing
// only the rows the ids name (embeddingForwardQ: embedding_q.wgsl for a scalar
// QTensor, embedding_vq.wgsl for a codebook tensor). The embeddings are frozen,
// so there is no backward. Token ids are checked on the CPU when they are
// uploaded (uploadTokenIds); the kernels also clamp them, so ids that bypass
// the check cannot read out of bounds.
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count, foldedGrid, type KernelOptions } from './elementwise.ts';
import type { GpuQTensor } from '../qtensor_gpu.ts';
import { groupsPerRow, planeWidths, wordsPerRow } from '../../quant/qtensor.ts';

const WG = 256;
const params = new UniformStruct({ N: 'u32', C: 'u32', V: 'u32', row0: 'u32', ROWS: 'u32', scale: 'f32' });
const KERNEL: KernelDef = { shader: 'embedding_forward', bindings: ['uniform', 'read', 'read', 'storage'] };

/** Throws a RangeError naming the first id that is not an integer in [0, V) and its position. */
export function validateTokenIds(ids: ArrayLike<number>, V: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= V)
      throw new RangeError(`token id ${id} at position ${i} is outside the vocabulary [0, ${V}) of this model`);
  }
}

/** Token ids [N] as a u32 tensor, after validateTokenIds. */
export function uploadTokenIds(ctx: GpuContext, ids: ArrayLike<number>, V: number, label = 'token_ids'): GpuTensor<'u32'> {
  validateTokenIds(ids, V);
  return GpuTensor.from(ctx, Uint32Array.from(ids), [ids.length], 'u32', label);
}

/**
 * x [N, C] ← E[ids, :] · opts.scale (default 1). `table` is the embedding matrix [V, C], or its row
 * chunks in order ([V₀, C], [V₁, C], ...) when V·C·4 bytes exceed one storage
 * binding. ids [N] u32: ids ≥ V are clamped to V − 1 (use uploadTokenIds to
 * reject them instead).
 */
export function embeddingForward(
  ctx: GpuContext,
  x: GpuTensor<'f32'>,
  table: GpuTensor<'f32'> | readonly GpuTensor<'f32'>[],
  ids: GpuTensor<'u32'>,
  opts: KernelOptions & { scale?: number } = {},
): void {
  const scale = opts.scale ?? 1;
  if (!Number.isFinite(scale)) throw new RangeError(`embeddingForward: scale ${scale} is not finite`);
  const chunks = Array.isArray(table) ? table : [table as GpuTensor<'f32'>];
  if (chunks.length === 0) throw new RangeError('embeddingForward: no table');
  const C = chunks[0].shape[chunks[0].shape.length - 1];
  for (const t of chunks)
    if (t.shape.length !== 2 || t.shape[1] !== C || t.shape[0] === 0) throw new RangeError(`embeddingForward: table chunk [${t.shape}] is not [rows > 0, C = ${C}]`);
  const V = chunks.reduce((s, t) => s + t.shape[0], 0);
  const N = ids.size;
  if (x.size !== N * C || x.shape[x.shape.length - 1] !== C) throw new RangeError(`embeddingForward: x [${x.shape}] is not [${N}, ${C}] for ${N} ids`);
  checkU32Count('embeddingForward: x', x.size);
  checkU32Count('embeddingForward: V', V);
  if (N === 0) return;
  let row0 = 0;
  for (const t of chunks) {
    const ROWS = t.shape[0];
    dispatch(ctx, KERNEL, {
      uniform: params.pack({ N, C, V, row0, ROWS, scale }),
      buffers: [ids.buffer, t.buffer, x.buffer],
      workgroups: foldedGrid(N * C, WG, opts.foldAt),
      encoder: opts.encoder,
    });
    row0 += ROWS;
  }
}

const QWG = 64;
const qparams = new UniformStruct({ N: 'u32', C: 'u32', V: 'u32', G: 'u32', WPR: 'u32', NG: 'u32', row0: 'u32', ROWS: 'u32', scale: 'f32' });
const vqparams = new UniformStruct({ N: 'u32', C: 'u32', V: 'u32', G: 'u32', WPR: 'u32', NG: 'u32', row0: 'u32', ROWS: 'u32', IW: 'u32', scale: 'f32' });
const Q_BINDINGS = ['uniform', 'read', 'read', 'read', 'read', 'storage'] as const;

/** The gather kernel for a table's layout: bit width (scalar) or vector length, index width and signs (codebook). */
function qkernel(table: GpuQTensor): KernelDef {
  if (table.vq) {
    const { dim, indexBits, signed } = table.vq;
    return { shader: 'embedding_vq', bindings: [...Q_BINDINGS, 'read'], constants: { VD: dim, VB: indexBits, VS: signed ? 1 : 0 } };
  }
  const [QP0, QP1] = planeWidths(table.bits);
  return { shader: 'embedding_q', bindings: Q_BINDINGS, constants: { QP0, QP1 } };
}

/**
 * x [N, C] ← dequantize(table)[ids, :] · opts.scale (default 1), from a quantized table [V, C] as the
 * linear layers hold it (a GpuQTensor, scalar or codebook): only the N rows named are decoded, bit for
 * bit the rows dequantizeGpu would give. ids [N] u32: ids ≥ V are clamped to V − 1 (uploadTokenIds
 * rejects them instead). One dispatch per code part.
 */
export function embeddingForwardQ(ctx: GpuContext, x: GpuTensor<'f32'>, table: GpuQTensor, ids: GpuTensor<'u32'>, opts: KernelOptions & { scale?: number } = {}): void {
  const scale = opts.scale ?? 1;
  if (!Number.isFinite(scale)) throw new RangeError(`embeddingForwardQ: scale ${scale} is not finite`);
  const { rows: V, cols: C, groupSize: G } = table;
  if (table.vq && C % 4 !== 0) throw new RangeError(`embeddingForwardQ: codebook rows of ${C} weights; the kernel needs a multiple of 4`);
  if (G !== C && G % 4 !== 0) throw new RangeError(`embeddingForwardQ: group size ${G} is neither a multiple of 4 nor the row length ${C}`);
  const N = ids.size;
  if (x.size !== N * C || x.shape[x.shape.length - 1] !== C) throw new RangeError(`embeddingForwardQ: x [${x.shape}] is not [${N}, ${C}] for ${N} ids`);
  checkU32Count('embeddingForwardQ: x', x.size);
  if (N === 0) return;
  const NG = groupsPerRow(C, G);
  const def = qkernel(table);
  for (const part of table.codeParts) {
    const common = { N, C, V, G, NG, row0: part.row0, ROWS: part.rows, scale };
    const uniform = table.vq
      ? vqparams.pack({ ...common, WPR: table.vq.wordsPerRow, IW: table.vq.indexWords })
      : qparams.pack({ ...common, WPR: wordsPerRow(C, table.bits) });
    const buffers = [ids.buffer, part.codes.buffer, table.scale.buffer, table.offset.buffer, x.buffer];
    if (table.vq) buffers.push(table.vq.table.buffer);
    dispatch(ctx, def, { uniform, buffers, workgroups: foldedGrid(N * Math.ceil(C / 4), QWG, opts.foldAt), encoder: opts.encoder });
  }
}
