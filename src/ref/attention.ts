// CPU references for causal grouped-query attention, in f64 (the oracle of
// shaders/attention_*.wgsl). They form the whole score row per query and a
// plain softmax, a different algorithm from the tiled online softmax on the
// GPU, so agreement checks the GPU's bookkeeping, not just its arithmetic.
//   q [B, Tq, H, D], k and v [B, S, K, D] (S ≥ kvLen rows per batch, only the
//   first kvLen used), o [B, Tq, H, D], lse [B, Tq, H].
//   Query t sits at absolute position i = qOffset + t; query head h reads KV
//   head h / (H / K). Key j is visible iff j ≤ i and (window = 0 or j > i − window).
//   s_ij = (q_i · k_j) / sqrt(D), o_i = Σ_j softmax(s_i)_j v_j.
// Backward (training: qOffset = 0, kvLen = S = Tq): with P = softmax(S) and
// dP_ij = do_i · v_j, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dq = scale·dS·k,
// dk = scale·dSᵀ·q and dv = Pᵀ·do, summed over the query heads of a KV head.
import { resolveAttentionDims, type AttentionDims, type ResolvedAttentionDims } from '../arch/attention_dims.ts';

export type { AttentionDims };

type Resolved = ResolvedAttentionDims;

/** First visible key of absolute position i. */
function firstKey(i: number, window: number): number {
  return window > 0 ? Math.max(0, i - window + 1) : 0;
}

function checkLen(name: string, a: ArrayLike<number>, n: number): void {
  if (a.length !== n) throw new RangeError(`attention reference: ${name} has ${a.length} values, expected ${n}`);
}

/** Probabilities of one query row over keys lo..i (length i − lo + 1), and its log-sum-exp. */
function softmaxRow(q: ArrayLike<number>, k: ArrayLike<number>, r: Resolved, b: number, t: number, h: number) {
  const { D, K, S, H, T, qOffset, window, scale } = r;
  const i = qOffset + t;
  const lo = firstKey(i, window);
  const kh = Math.floor(h / r.G);
  const qb = ((b * T + t) * H + h) * D;
  const s = new Float64Array(i - lo + 1);
  let m = -Infinity;
  for (let j = lo; j <= i; j++) {
    const kb = ((b * S + j) * K + kh) * D;
    let acc = 0;
    for (let d = 0; d < D; d++) acc += q[qb + d] * k[kb + d];
    s[j - lo] = acc * scale;
    m = Math.max(m, s[j - lo]);
  }
  let sum = 0;
  for (let n = 0; n < s.length; n++) sum += Math.exp(s[n] - m);
  for (let n = 0; n < s.length; n++) s[n] = Math.exp(s[n] - m) / sum;
  return { p: s, lo, lse: m + Math.log(sum), kh };
}

export function attentionForwardRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dims: AttentionDims) {
  const r = resolveAttentionDims(dims);
  const { B, T, H, K, D, S } = r;
  checkLen('q', q, B * T * H * D);
  checkLen('k', k, B * S * K * D);
  checkLen('v', v, B * S * K * D);
  const o = new Float64Array(B * T * H * D);
  const lse = new Float64Array(B * T * H);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++) {
        const row = softmaxRow(q, k, r, b, t, h);
        const ob = ((b * T + t) * H + h) * D;
        lse[(b * T + t) * H + h] = row.lse;
        for (let n = 0; n < row.p.length; n++) {
          const vb = ((b * S + row.lo + n) * K + row.kh) * D;
          for (let d = 0; d < D; d++) o[ob + d] += row.p[n] * v[vb + d];
        }
      }
  return { o, lse };
}

/** Gradients of L with dL/do = dout, for the training case (qOffset = 0, kvLen = S = T). */
export function attentionBackwardRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dout: ArrayLike<number>, dims: AttentionDims) {
  const r = resolveAttentionDims(dims);
  const { B, T, H, K, D, S, scale } = r;
  if (r.qOffset !== 0 || S !== T) throw new RangeError('attentionBackwardRef: backward is defined for training shapes (qOffset = 0, S = kvLen = T)');
  checkLen('q', q, B * T * H * D);
  checkLen('k', k, B * S * K * D);
  checkLen('v', v, B * S * K * D);
  checkLen('dout', dout, B * T * H * D);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++) {
        const { p, lo, kh } = softmaxRow(q, k, r, b, t, h);
        const qb = ((b * T + t) * H + h) * D;
        const dp = new Float64Array(p.length);
        let rowDot = 0;
        for (let n = 0; n < p.length; n++) {
          const vb = ((b * S + lo + n) * K + kh) * D;
          for (let d = 0; d < D; d++) dp[n] += dout[qb + d] * v[vb + d];
          rowDot += p[n] * dp[n];
        }
        for (let n = 0; n < p.length; n++) {
          const kb = ((b * S + lo + n) * K + kh) * D;
          const ds = p[n] * (dp[n] - rowDot) * scale;
          for (let d = 0; d < D; d++) {
            dq[qb + d] += ds * k[kb + d];
            dk[kb + d] += ds * q[qb + d];
            dv[kb + d] += p[n] * dout[qb + d];
          }
        }
      }
  return { dq, dk, dv };
}
