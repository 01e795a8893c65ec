// CPU reference for the global gradient norm (the oracle for grad_norm.wgsl):
//   norm = sqrt(Σ_tensors Σ_i g_i²) over the finite values, in f64,
//   nonFinite = number of NaN / ±Inf values (left out of the sum).

export function gradNormRef(grads: readonly ArrayLike<number>[]): { sumSquares: number; norm: number; nonFinite: number } {
  let sumSquares = 0;
  let nonFinite = 0;
  for (const g of grads)
    for (let i = 0; i < g.length; i++) {
      if (Number.isFinite(g[i])) sumSquares += g[i] * g[i];
      else nonFinite++;
    }
  return { sumSquares, norm: Math.sqrt(sumSquares), nonFinite };
}
