// CPU reference for the broadcast bias add (the oracle for bias_add.wgsl):
//   y[n, o] = x[n, o] + b[o],  x [N, O] row-major, in f64.

export function biasAddRef(x: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const O = b.length;
  if (O === 0 || x.length % O !== 0) throw new RangeError(`biasAddRef: ${x.length} values are not rows of O = ${O}`);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] + b[i % O];
  return y;
}
