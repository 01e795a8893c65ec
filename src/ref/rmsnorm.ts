// CPU reference for RMSNorm in f64 (the oracle for rmsnorm_forward / rmsnorm_backward.wgsl):
//   forward   y[n,j] = x[n,j]·r_n·w[j],  r_n = 1 / sqrt(Σ_k x[n,k]² / C + eps)
//   backward  dx[n,j] = r_n·w[j]·dy[n,j] − (r_n³/C)·x[n,j]·Σ_k dy[n,k]·w[k]·x[n,k]
//             dw[j]   = Σ_n dy[n,j]·x[n,j]·r_n
// (from ∂r_n/∂x[n,k] = −r_n³·x[n,k]/C).

export function rmsnormForwardRef(x: ArrayLike<number>, w: ArrayLike<number>, eps: number): { y: Float64Array; rstd: Float64Array } {
  const C = w.length;
  const N = x.length / C;
  if (!Number.isInteger(N)) throw new RangeError(`rmsnormForwardRef: ${x.length} values are not rows of C = ${C}`);
  const y = new Float64Array(x.length);
  const rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let k = 0; k < C; k++) ss += x[n * C + k] ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd[n] = r;
    for (let k = 0; k < C; k++) y[n * C + k] = x[n * C + k] * r * w[k];
  }
  return { y, rstd };
}

export function rmsnormBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, w: ArrayLike<number>, eps: number): { dx: Float64Array; dw: Float64Array } {
  const C = w.length;
  const N = x.length / C;
  const { rstd } = rmsnormForwardRef(x, w, eps);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const r = rstd[n];
    let s = 0;
    for (let k = 0; k < C; k++) s += dy[n * C + k] * w[k] * x[n * C + k];
    const c = (r * r * r * s) / C;
    for (let k = 0; k < C; k++) {
      const i = n * C + k;
      dx[i] = r * w[k] * dy[i] - c * x[i];
      dw[k] += dy[i] * x[i] * r;
    }
  }
  return { dx, dw };
}
