// CPU reference for SwiGLU in f64 (the oracle for swiglu_forward / swiglu_backward.wgsl):
//   forward   h = silu(g)·u,  silu(g) = g·σ(g)
//   backward  du = dh·silu(g),  dg = dh·u·σ(g)·(1 + g·(1 − σ(g)))

const sigmoid = (g: number) => (g >= 0 ? 1 / (1 + Math.exp(-g)) : Math.exp(g) / (1 + Math.exp(g)));

export function swigluForwardRef(g: ArrayLike<number>, u: ArrayLike<number>): Float64Array {
  if (g.length !== u.length) throw new RangeError(`swigluForwardRef: g has ${g.length} values, u ${u.length}`);
  const h = new Float64Array(g.length);
  for (let i = 0; i < g.length; i++) h[i] = g[i] * sigmoid(g[i]) * u[i];
  return h;
}

export function swigluBackwardRef(dh: ArrayLike<number>, g: ArrayLike<number>, u: ArrayLike<number>): { dg: Float64Array; du: Float64Array } {
  const dg = new Float64Array(g.length);
  const du = new Float64Array(g.length);
  for (let i = 0; i < g.length; i++) {
    const s = sigmoid(g[i]);
    du[i] = dh[i] * g[i] * s;
    dg[i] = dh[i] * u[i] * s * (1 + g[i] * (1 - s));
  }
  return { dg, du };
}
