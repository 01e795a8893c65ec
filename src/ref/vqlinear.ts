// CPU references for the codebook linear layer (src/quant/vq/vqtensor.ts), in f64:
//   forward          Y[T,O] = X[T,I]·Wᵀ + s·(X·Aᵀ)·Bᵀ,  W[o,k] = scale[o,g]·v[o,k] + offset[o,g],
//                    v[o,k] = σ[o,k]·table[idx[o,⌊k/d⌋]][k mod d]
//   backward input   dX = dY·W + s·(dY·B)·A
//   backward quant   dscale[o,g] = Σ_t dY[t,o] Σ_{k∈g} X[t,k] v[o,k];  doffset likewise without v
// The LoRA factor gradients are the scalar layer's (loraBackwardRef, src/ref/qlinear.ts).
// `scale`, `offset` may be overridden with f64 arrays for finite differences.
import { vqGroupsPerRow, vqValue, type VqTensor } from '../quant/vq/vqtensor.ts';
import type { LoraRef, QParams } from './qlinear.ts';

/** v[o,k] = σ·table value, [O, I] in f64. */
function values64(w: VqTensor): Float64Array {
  const v = new Float64Array(w.rows * w.cols);
  for (let o = 0; o < w.rows; o++) for (let k = 0; k < w.cols; k++) v[o * w.cols + k] = vqValue(w, o, k);
  return v;
}

function dequant64(w: VqTensor, p: QParams = {}): Float64Array {
  const s = p.scale ?? w.scale;
  const m = p.offset ?? w.offset;
  const ng = vqGroupsPerRow(w);
  const v = values64(w);
  for (let o = 0; o < w.rows; o++)
    for (let k = 0; k < w.cols; k++) {
      const gi = o * ng + Math.floor(k / w.groupSize);
      v[o * w.cols + k] = s[gi] * v[o * w.cols + k] + m[gi];
    }
  return v;
}

/** C[M,N] = Σ_k P[m,k]·Q[n,k]. */
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

/** C[M,N] = Σ_k P[m,k]·Q[k,n]. */
function nn(p: ArrayLike<number>, q: ArrayLike<number>, M: number, K: number, N: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let k = 0; k < K; k++) {
      const a = p[m * K + k];
      if (a !== 0) for (let n = 0; n < N; n++) c[m * N + n] += a * q[k * N + n];
    }
  return c;
}

export function vqlinearForwardRef(x: ArrayLike<number>, T: number, w: VqTensor, lora?: LoraRef, params?: QParams): Float64Array {
  const { rows: O, cols: I } = w;
  if (x.length !== T * I) throw new RangeError(`vqlinearForwardRef: X has ${x.length} values, expected ${T}×${I}`);
  const y = nt(x, dequant64(w, params), T, I, O);
  if (lora) {
    const l = nt(nt(x, lora.a, T, I, lora.rank), lora.b, T, lora.rank, O);
    for (let i = 0; i < y.length; i++) y[i] += lora.scale * l[i];
  }
  return y;
}

export function vqlinearBackwardInputRef(dy: ArrayLike<number>, T: number, w: VqTensor, lora?: LoraRef): Float64Array {
  const { rows: O, cols: I } = w;
  const dx = nn(dy, dequant64(w), T, O, I);
  if (lora) {
    const u = nn(dy, lora.b, T, O, lora.rank);
    const l = nn(u, lora.a, T, lora.rank, I);
    for (let i = 0; i < dx.length; i++) dx[i] += lora.scale * l[i];
  }
  return dx;
}

export function vqlinearBackwardQuantRef(x: ArrayLike<number>, dy: ArrayLike<number>, T: number, w: VqTensor) {
  const { rows: O, cols: I } = w;
  const ng = vqGroupsPerRow(w);
  const v = values64(w);
  const dscale = new Float64Array(O * ng);
  const doffset = new Float64Array(O * ng);
  for (let o = 0; o < O; o++)
    for (let k = 0; k < I; k++) {
      let c = 0;
      for (let t = 0; t < T; t++) c += dy[t * O + o] * x[t * I + k];
      const gi = o * ng + Math.floor(k / w.groupSize);
      dscale[gi] += v[o * I + k] * c;
      doffset[gi] += c;
    }
  return { dscale, doffset };
}
