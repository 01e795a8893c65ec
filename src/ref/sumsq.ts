// CPU reference for the column sum of squares (the oracle for sumsq_columns.wgsl):
//   acc[i] + Σ_t x[t, i]²,  x [T, I] row-major, in f64.

export function sumsqColumnsRef(x: ArrayLike<number>, I: number, acc?: ArrayLike<number>): Float64Array {
  if (!Number.isInteger(I) || I < 1 || x.length % I !== 0) throw new RangeError(`sumsqColumnsRef: ${x.length} values are not rows of I = ${I}`);
  if (acc && acc.length !== I) throw new RangeError(`sumsqColumnsRef: accumulator of ${acc.length} for I = ${I}`);
  const out = acc ? Float64Array.from(acc) : new Float64Array(I);
  for (let t = 0; t < x.length / I; t++) for (let i = 0; i < I; i++) out[i] += x[t * I + i] * x[t * I + i];
  return out;
}
