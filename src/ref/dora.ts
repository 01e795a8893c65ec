// CPU references (f64) for DoRA on a frozen base W [O, I] (PEFT's semantics,
// docs: formats-2.md §5), on a dense W (tests dequantize their quantized or
// codebook base with the references of qlinear.ts / vqlinear.ts):
//   norm      n[o] = ‖W[o,:] + s·(B·A)[o,:]‖₂          one per output row, over the inputs
//   forward   Y = (m/n) ⊙ (X·Wᵀ + s·(X·Aᵀ)·Bᵀ)          column o scaled by m[o]/n[o]
//   backward  n detached (PEFT's weight_norm.detach()): with c = m/n, Z the
//             unscaled output and dZ = dY ⊙ c,
//             dm[o] = Σ_t dY[t,o]·Z[t,o] / n[o],  dX = dZ·W + s·(dZ·B)·A,
//             dA = s·(dZ·B)ᵀ·X,  dB = s·dZᵀ·(X·Aᵀ)
// The split n² = ‖W_o‖² + 2s·Σ_k B[o,k]·(A·Wᵀ)[k,o] + s²·B_o·(A·Aᵀ)·B_oᵀ the
// GPU uses (dora_norm.wgsl) is its own reference: doraNormSplitRef.

export interface DoraRefArgs {
  /** W [O, I] (dense, the dequantized base). */
  w: ArrayLike<number>;
  /** A [R, I], B [O, R], s = alpha / R. */
  a: ArrayLike<number>;
  b: ArrayLike<number>;
  scale: number;
  /** Magnitude m [O]. */
  m: ArrayLike<number>;
  O: number;
  I: number;
  R: number;
}

/** W + s·B·A [O, I]. */
function merged(p: DoraRefArgs): Float64Array {
  const { O, I, R } = p;
  const v = new Float64Array(O * I);
  for (let o = 0; o < O; o++)
    for (let i = 0; i < I; i++) {
      let d = 0;
      for (let k = 0; k < R; k++) d += p.b[o * R + k] * p.a[k * I + i];
      v[o * I + i] = p.w[o * I + i] + p.scale * d;
    }
  return v;
}

/** n [O]: the row norms of W + s·B·A. */
export function doraNormRef(p: DoraRefArgs): Float64Array {
  const v = merged(p);
  const n = new Float64Array(p.O);
  for (let o = 0; o < p.O; o++) {
    let q = 0;
    for (let i = 0; i < p.I; i++) q += v[o * p.I + i] ** 2;
    n[o] = Math.sqrt(q);
  }
  return n;
}

/** The same norms from the split the GPU evaluates: ‖W_o‖², A·Wᵀ [R, O] and A·Aᵀ [R, R]. */
export function doraNormSplitRef(wsq: ArrayLike<number>, awt: ArrayLike<number>, b: ArrayLike<number>, g: ArrayLike<number>, scale: number, O: number, R: number): Float64Array {
  const n = new Float64Array(O);
  for (let o = 0; o < O; o++) {
    let cross = 0;
    let quad = 0;
    for (let k = 0; k < R; k++) {
      cross += b[o * R + k] * awt[k * O + o];
      let gb = 0;
      for (let l = 0; l < R; l++) gb += g[k * R + l] * b[o * R + l];
      quad += b[o * R + k] * gb;
    }
    n[o] = Math.sqrt(Math.max(0, wsq[o] + 2 * scale * cross + scale * scale * quad));
  }
  return n;
}

/** Z = X·(W + s·B·A)ᵀ [T, O], unscaled. */
function unscaled(x: ArrayLike<number>, T: number, p: DoraRefArgs): Float64Array {
  const v = merged(p);
  const z = new Float64Array(T * p.O);
  for (let t = 0; t < T; t++)
    for (let o = 0; o < p.O; o++) {
      let s = 0;
      for (let i = 0; i < p.I; i++) s += x[t * p.I + i] * v[o * p.I + i];
      z[t * p.O + o] = s;
    }
  return z;
}

/** Y [T, O]; `n` fixes the norms (finite differences of the detached-norm function), else they are computed. */
export function doraForwardRef(x: ArrayLike<number>, T: number, p: DoraRefArgs, n: ArrayLike<number> = doraNormRef(p)): Float64Array {
  const z = unscaled(x, T, p);
  for (let t = 0; t < T; t++) for (let o = 0; o < p.O; o++) z[t * p.O + o] *= p.m[o] / n[o];
  return z;
}

/** Gradients of Σ dY ⊙ Y with the norms detached. */
export function doraBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, T: number, p: DoraRefArgs): { dx: Float64Array; da: Float64Array; db: Float64Array; dm: Float64Array } {
  const { O, I, R } = p;
  const n = doraNormRef(p);
  const z = unscaled(x, T, p);
  const v = merged(p);
  const dz = new Float64Array(T * O);
  const dm = new Float64Array(O);
  for (let t = 0; t < T; t++)
    for (let o = 0; o < O; o++) {
      dz[t * O + o] = (dy[t * O + o] * p.m[o]) / n[o];
      dm[o] += (dy[t * O + o] * z[t * O + o]) / n[o];
    }
  // dX = dZ·(W + s·B·A); U = dZ·B [T, R]; XA = X·Aᵀ [T, R].
  const dx = new Float64Array(T * I);
  const u = new Float64Array(T * R);
  const xa = new Float64Array(T * R);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < I; i++) {
      let s = 0;
      for (let o = 0; o < O; o++) s += dz[t * O + o] * v[o * I + i];
      dx[t * I + i] = s;
    }
    for (let k = 0; k < R; k++) {
      let su = 0;
      let sx = 0;
      for (let o = 0; o < O; o++) su += dz[t * O + o] * p.b[o * R + k];
      for (let i = 0; i < I; i++) sx += x[t * I + i] * p.a[k * I + i];
      u[t * R + k] = su;
      xa[t * R + k] = sx;
    }
  }
  const da = new Float64Array(R * I);
  const db = new Float64Array(O * R);
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < R; k++) for (let i = 0; i < I; i++) da[k * I + i] += p.scale * u[t * R + k] * x[t * I + i];
    for (let o = 0; o < O; o++) for (let k = 0; k < R; k++) db[o * R + k] += p.scale * dz[t * O + o] * xa[t * R + k];
  }
  return { dx, da, db, dm };
}

/** The merged weight PEFT's merge_safe writes: (m/n)[:, None] · (W + s·B·A). */
export function doraMergedRef(p: DoraRefArgs): Float64Array {
  const v = merged(p);
  const n = doraNormRef(p);
  for (let o = 0; o < p.O; o++) for (let i = 0; i < p.I; i++) v[o * p.I + i] *= p.m[o] / n[o];
  return v;
}
