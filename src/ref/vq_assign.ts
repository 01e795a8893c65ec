// CPU reference for the nearest-entry search (the oracle of vq_assign.wgsl):
//   idx[v] = argmin_e Σ_j w[v mod P, j] · (x[v, j] − table[e, j])²
// in f64, the first minimum winning, with the best and second-best distances
// so that a test can tell a real disagreement from a near-tie that f32
// rounding may break either way.

export interface VqAssignRef {
  idx: Uint32Array;
  /** The smallest distance per vector. */
  best: Float64Array;
  /** The second smallest (Infinity with one entry). */
  second: Float64Array;
}

/** x [n, d], table [size, d], weights [positions, d] (vector v uses row v mod positions). */
export function vqAssignRef(x: ArrayLike<number>, n: number, d: number, table: ArrayLike<number>, size: number, weights: ArrayLike<number>, positions: number): VqAssignRef {
  if (x.length !== n * d || table.length !== size * d || weights.length !== positions * d || size < 1 || positions < 1)
    throw new RangeError(`vqAssignRef: x ${x.length} for [${n}, ${d}], table ${table.length} for [${size}, ${d}], weights ${weights.length} for [${positions}, ${d}]`);
  const idx = new Uint32Array(n);
  const best = new Float64Array(n).fill(Infinity);
  const second = new Float64Array(n).fill(Infinity);
  for (let v = 0; v < n; v++) {
    const wo = (v % positions) * d;
    for (let e = 0; e < size; e++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += weights[wo + j] * (x[v * d + j] - table[e * d + j]) ** 2;
      if (s < best[v]) {
        second[v] = best[v];
        best[v] = s;
        idx[v] = e;
      } else if (s < second[v]) second[v] = s;
    }
  }
  return { idx, best, second };
}

/** The reference distance of vector v to entry e (to judge another search's pick). */
export function vqDistanceRef(x: ArrayLike<number>, v: number, d: number, table: ArrayLike<number>, e: number, weights: ArrayLike<number>, positions: number): number {
  const wo = (v % positions) * d;
  let s = 0;
  for (let j = 0; j < d; j++) s += weights[wo + j] * (x[v * d + j] - table[e * d + j]) ** 2;
  return s;
}
