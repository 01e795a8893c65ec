// CPU reference for the linear-layer matmul: Y[T,O] = X[T,I] · W[O,I]ᵀ,
// accumulated in f64 so it is the oracle for every GPU variant.
export function matmulRef(x: Float32Array, w: Float32Array, T: number, I: number, O: number): Float64Array {
  if (x.length !== T * I) throw new RangeError(`matmulRef: X has ${x.length} values, expected T*I = ${T * I}`);
  if (w.length !== O * I) throw new RangeError(`matmulRef: W has ${w.length} values, expected O*I = ${O * I}`);
  const y = new Float64Array(T * O);
  for (let t = 0; t < T; t++) {
    const xr = t * I;
    for (let o = 0; o < O; o++) {
      const wr = o * I;
      let acc = 0;
      for (let k = 0; k < I; k++) acc += x[xr + k] * w[wr + k];
      y[t * O + o] = acc;
    }
  }
  return y;
}

/** Strided reference: Y[t,o] = alpha·Σ_k X[t·xt + k·xk]·W[o·wo + k·wk] + beta·Y0[t,o]. */
export function matmulStridedRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  T: number,
  K: number,
  O: number,
  xs: [number, number],
  ws: [number, number],
  alpha = 1,
  beta = 0,
  y0?: ArrayLike<number>,
): Float64Array {
  const y = new Float64Array(T * O);
  for (let t = 0; t < T; t++)
    for (let o = 0; o < O; o++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += x[t * xs[0] + k * xs[1]] * w[o * ws[0] + k * ws[1]];
      y[t * O + o] = alpha * acc + (beta !== 0 && y0 ? beta * y0[t * O + o] : 0);
    }
  return y;
}
