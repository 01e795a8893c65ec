// CPU reference for the token embedding lookup (the oracle for embedding_forward.wgsl):
//   x[n, c] = E[ids[n], c]·scale,  E [V, C] row-major. Ids outside [0, V) are an error here:
// the reference defines the result only for valid ids (the kernel clamps the rest).
// embeddingQRef: the same lookup from a quantized table (embedding_q.wgsl, embedding_vq.wgsl).
import { getCode, type QTensor } from '../quant/qtensor.ts';
import { vqValue, type VqTensor } from '../quant/vq/vqtensor.ts';

export function embeddingForwardRef(table: ArrayLike<number>, C: number, ids: ArrayLike<number>, scale = 1): Float64Array {
  const V = table.length / C;
  if (!Number.isInteger(V)) throw new RangeError(`embeddingForwardRef: ${table.length} values are not rows of C = ${C}`);
  const x = new Float64Array(ids.length * C);
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`embeddingForwardRef: id ${id} at ${n} is outside [0, ${V})`);
    for (let c = 0; c < C; c++) x[n * C + c] = table[id * C + c] * scale;
  }
  return x;
}

/**
 * The oracle of embeddingForwardQ: x[n, c] = W[ids[n], c]·scale with W the
 * dequantized table — w = s·q + o for a QTensor, s·σ·table[idx][c mod d] + o
 * for a codebook tensor — decoding only the rows gathered. Each step is
 * rounded to f32 as the kernel computes it (s·q, then + o, then · scale), so
 * on a GPU that does not fuse the multiply-add the match is exact.
 */
export function embeddingQRef(table: QTensor | VqTensor, ids: ArrayLike<number>, scale = 1): Float32Array {
  const { rows: V, cols: C, groupSize: G } = table;
  const vq = 'codebook' in table ? table : null;
  const ng = Math.ceil(C / G);
  const x = new Float32Array(ids.length * C);
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`embeddingQRef: id ${id} at ${n} is outside [0, ${V})`);
    for (let c = 0; c < C; c++) {
      const gi = id * ng + Math.floor(c / G);
      const q = vq ? vqValue(vq, id, c) : getCode(table as QTensor, id, c);
      x[n * C + c] = Math.fround(Math.fround(Math.fround(table.scale[gi] * q) + table.offset[gi]) * scale);
    }
  }
  return x;
}
