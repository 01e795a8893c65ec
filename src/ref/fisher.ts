// CPU reference for the per-example squared-gradient accumulation (the oracle
// for fisher_accumulate.wgsl), in f64:
//   F[o, i] + Σ_e ( Σ_{t ∈ e} dY[e·T + t, o] · X[e·T + t, i] )²
// dY [E·T, O], X [E·T, I] row-major: E examples of T token rows each.

export function fisherAccumulateRef(dy: ArrayLike<number>, x: ArrayLike<number>, E: number, T: number, O: number, I: number, f?: ArrayLike<number>): Float64Array {
  if (dy.length !== E * T * O || x.length !== E * T * I) throw new RangeError(`fisherAccumulateRef: dY ${dy.length} and X ${x.length} values for E=${E}, T=${T}, O=${O}, I=${I}`);
  if (f && f.length !== O * I) throw new RangeError(`fisherAccumulateRef: accumulator of ${f.length} for [${O}, ${I}]`);
  const out = f ? Float64Array.from(f) : new Float64Array(O * I);
  const g = new Float64Array(O * I);
  for (let e = 0; e < E; e++) {
    g.fill(0);
    for (let t = e * T; t < (e + 1) * T; t++)
      for (let o = 0; o < O; o++) {
        const d = dy[t * O + o];
        if (d === 0) continue;
        for (let i = 0; i < I; i++) g[o * I + i] += d * x[t * I + i];
      }
    for (let k = 0; k < g.length; k++) out[k] += g[k] * g[k];
  }
  return out;
}
