// CPU references for the quantized linear layer, in f64:
//   forward          Y[T,O] = X[T,I]·Wᵀ + s·(X·Aᵀ)·Bᵀ,  W[o,k] = scale[o,g]·q[o,k] + offset[o,g]
//   backward input   dX = dY·W + s·(dY·B)·A
//   backward quant   dscale[o,g] = Σ_t dY[t,o] Σ_{k∈g} X[t,k] q[o,k];  doffset likewise without q
//   backward LoRA    dA = s·(dY·B)ᵀ·X,  dB = s·dYᵀ·(X·Aᵀ)
// `scale`, `offset`, `a`, `b` may be overridden with f64 arrays, so the tests can
// take finite differences of the forward pass without f32 rounding.
import { getCode, groupsPerRow, type QTensor } from '../quant/qtensor.ts';

export interface LoraRef {
  a: ArrayLike<number>; // [R, I]
  b: ArrayLike<number>; // [O, R]
  rank: number;
  scale: number; // alpha / rank
}

export interface QParams {
  scale?: ArrayLike<number>;
  offset?: ArrayLike<number>;
}

function dequant64(w: QTensor, p: QParams = {}): Float64Array {
  const s = p.scale ?? w.scale;
  const m = p.offset ?? w.offset;
  const ng = groupsPerRow(w.cols, w.groupSize);
  const out = new Float64Array(w.rows * w.cols);
  for (let o = 0; o < w.rows; o++)
    for (let k = 0; k < w.cols; k++) {
      const gi = o * ng + Math.floor(k / w.groupSize);
      out[o * w.cols + k] = s[gi] * getCode(w, o, k) + m[gi];
    }
  return out;
}

/** C[M,N] = Σ_k P[m,k]·Q[n,k] (both row-major with k contiguous). */
function nt(p: ArrayLike<number>, q: ArrayLike<number>, M: number, K: number, N: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += p[m * K + k] * q[n * K + k];
      c[m * N + n] = s;
    }
  return c;
}

function transpose(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}

export function qlinearForwardRef(x: ArrayLike<number>, T: number, w: QTensor, lora?: LoraRef, params?: QParams): Float64Array {
  const { rows: O, cols: I } = w;
  if (x.length !== T * I) throw new RangeError(`qlinearForwardRef: X has ${x.length} values, expected ${T}×${I}`);
  const y = nt(x, dequant64(w, params), T, I, O);
  if (lora) {
    const xa = nt(x, lora.a, T, I, lora.rank);
    const l = nt(xa, lora.b, T, lora.rank, O);
    for (let i = 0; i < y.length; i++) y[i] += lora.scale * l[i];
  }
  return y;
}

export function qlinearBackwardInputRef(dy: ArrayLike<number>, T: number, w: QTensor, lora?: LoraRef): Float64Array {
  const { rows: O, cols: I } = w;
  const dx = nt(dy, transpose(dequant64(w), O, I), T, O, I);
  if (lora) {
    const u = nt(dy, transpose(lora.b, O, lora.rank), T, O, lora.rank);
    const l = nt(u, transpose(lora.a, lora.rank, I), T, lora.rank, I);
    for (let i = 0; i < dx.length; i++) dx[i] += lora.scale * l[i];
  }
  return dx;
}

export function qlinearBackwardQuantRef(x: ArrayLike<number>, dy: ArrayLike<number>, T: number, w: QTensor) {
  const { rows: O, cols: I } = w;
  const ng = groupsPerRow(I, w.groupSize);
  const dscale = new Float64Array(O * ng);
  const doffset = new Float64Array(O * ng);
  for (let o = 0; o < O; o++)
    for (let k = 0; k < I; k++) {
      let c = 0;
      for (let t = 0; t < T; t++) c += dy[t * O + o] * x[t * I + k];
      const gi = o * ng + Math.floor(k / w.groupSize);
      dscale[gi] += getCode(w, o, k) * c;
      doffset[gi] += c;
    }
  return { dscale, doffset };
}

export function loraBackwardRef(x: ArrayLike<number>, dy: ArrayLike<number>, T: number, I: number, O: number, lora: LoraRef) {
  const R = lora.rank;
  const u = nt(dy, transpose(lora.b, O, R), T, O, R); // [T,R]
  const xa = nt(x, lora.a, T, I, R); // [T,R]
  const da = nt(transpose(u, T, R), transpose(x, T, I), R, T, I);
  const db = nt(transpose(dy, T, O), transpose(xa, T, R), O, T, R);
  for (let i = 0; i < da.length; i++) da[i] *= lora.scale;
  for (let i = 0; i < db.length; i++) db[i] *= lora.scale;
  return { da, db };
}

/**
 * The inputs qlinear_forward reads in place of X (shaders/qlinear_forward_prep.wgsl):
 * xp[t,k] = x[t,k]·2^(−bits·(k mod 4)) and sx[t,g] = Σ_{k∈g} x[t,k].
 */
export function qlinearForwardPrepRef(x: ArrayLike<number>, T: number, I: number, groupSize: number, bits: number): { xp: Float64Array; sx: Float64Array } {
  const ng = groupsPerRow(I, groupSize);
  const xp = new Float64Array(T * I);
  const sx = new Float64Array(T * ng);
  for (let t = 0; t < T; t++)
    for (let k = 0; k < I; k++) {
      const v = x[t * I + k];
      xp[t * I + k] = v * 2 ** -(bits * (k % 4));
      sx[t * ng + Math.floor(k / groupSize)] += v;
    }
  return { xp, sx };
}

/**
 * The scale of qlinear_forward_f16's rounding error: m[t,o] = Σ_g R[o,g]·Σ_{k∈g}|x[t,k]|,
 * R[o,g] = max(|offset|, |scale·(2^bits − 1) + offset|), the largest |w| a
 * group's codes can make (the kernel normalises each group's f16 weights by
 * it). The kernel's error is at most ~17·2^-11·m (see its header).
 */
export function qlinearF16ErrorScaleRef(x: ArrayLike<number>, T: number, w: QTensor): Float64Array {
  const { rows: O, cols: I } = w;
  const ng = groupsPerRow(I, w.groupSize);
  const qmax = 2 ** w.bits - 1;
  const m = new Float64Array(T * O);
  for (let t = 0; t < T; t++)
    for (let o = 0; o < O; o++) {
      let s = 0;
      for (let k = 0; k < I; k++) {
        const gi = o * ng + Math.floor(k / w.groupSize);
        s += Math.abs(x[t * I + k]) * Math.max(Math.abs(w.offset[gi]), Math.abs(w.scale[gi] * qmax + w.offset[gi]));
      }
      m[t * O + o] = s;
    }
  return m;
}
