// CPU references, in f64, for training a codebook tensor's table with the
// indices frozen (vqlinear_backward_table.wgsl):
//   dtable[c,j] = Σ_{(o,k): idx[o,⌊k/d⌋] = c, k mod d = j} σ[o,k]·scale[o,g(k)]·C[o,k],
//   C[o,k] = Σ_t dY[t,o]·X[t,k]
// written as the plain scatter over every weight (the GPU gathers per entry),
// and the layer's output for an f64 table (finite differences of the table).
import { getIndex, getSign, vqGroupsPerRow, type VqTensor } from '../quant/vq/vqtensor.ts';

/** ∂L/∂table [size·d] for L = Σ dY ⊙ (X·Wᵀ). */
export function vqTableGradRef(x: ArrayLike<number>, dy: ArrayLike<number>, T: number, w: VqTensor): Float64Array {
  const { rows: O, cols: I } = w;
  const d = w.codebook.dim;
  const ng = vqGroupsPerRow(w);
  const g = new Float64Array(w.codebook.size * d);
  for (let o = 0; o < O; o++)
    for (let k = 0; k < I; k++) {
      let c = 0;
      for (let t = 0; t < T; t++) c += dy[t * O + o] * x[t * I + k];
      const s = w.scale[o * ng + Math.floor(k / w.groupSize)] * (getSign(w, o, k) ? -1 : 1);
      g[getIndex(w, o, Math.floor(k / d)) * d + (k % d)] += s * c;
    }
  return g;
}

/** Y[T,O] = X·Wᵀ with W built from `table` (f64, [size·d]) instead of the tensor's own. */
export function vqForwardWithTableRef(x: ArrayLike<number>, T: number, w: VqTensor, table: ArrayLike<number>): Float64Array {
  const { rows: O, cols: I } = w;
  const d = w.codebook.dim;
  const ng = vqGroupsPerRow(w);
  const y = new Float64Array(T * O);
  for (let o = 0; o < O; o++)
    for (let k = 0; k < I; k++) {
      const gi = o * ng + Math.floor(k / w.groupSize);
      const v = table[getIndex(w, o, Math.floor(k / d)) * d + (k % d)] * (getSign(w, o, k) ? -1 : 1);
      const wk = w.scale[gi] * v + w.offset[gi];
      for (let t = 0; t < T; t++) y[t * O + o] += x[t * I + k] * wk;
    }
  return y;
}
