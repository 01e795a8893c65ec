// CPU reference for GeGLU in f64 (the oracle for geglu_forward / geglu_backward.wgsl):
//   forward   h = gelu_tanh(g)·u,  gelu_tanh(g) = ½·g·(1 + tanh(a)),  a = √(2/π)·(g + 0.044715·g³)
//   backward  du = dh·gelu_tanh(g),
//             dg = dh·u·(½·(1 + tanh a) + ½·g·(1 − tanh² a)·√(2/π)·(1 + 3·0.044715·g²))
// (PyTorch's gelu(approximate="tanh"), transformers' gelu_pytorch_tanh).

const K0 = Math.sqrt(2 / Math.PI);
const K1 = 0.044715;

export function geluTanhRef(g: number): number {
  return 0.5 * g * (1 + Math.tanh(K0 * (g + K1 * g ** 3)));
}

export function gegluForwardRef(g: ArrayLike<number>, u: ArrayLike<number>): Float64Array {
  if (g.length !== u.length) throw new RangeError(`gegluForwardRef: g has ${g.length} values, u ${u.length}`);
  const h = new Float64Array(g.length);
  for (let i = 0; i < g.length; i++) h[i] = geluTanhRef(g[i]) * u[i];
  return h;
}

export function gegluBackwardRef(dh: ArrayLike<number>, g: ArrayLike<number>, u: ArrayLike<number>): { dg: Float64Array; du: Float64Array } {
  const dg = new Float64Array(g.length);
  const du = new Float64Array(g.length);
  for (let i = 0; i < g.length; i++) {
    const x = g[i];
    const t = Math.tanh(K0 * (x + K1 * x ** 3));
    du[i] = dh[i] * 0.5 * x * (1 + t);
    dg[i] = dh[i] * u[i] * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K0 * (1 + 3 * K1 * x * x));
  }
  return { dg, du };
}
