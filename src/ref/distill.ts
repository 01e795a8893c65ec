// CPU references in f64 for the distillation loss (the oracle of
// shaders/distill_*.wgsl and of distillChunked): KL(teacher ‖ student) over the
// teacher's top-K tokens plus one tail bucket, at a temperature τ.
//
// Per token row n, the teacher gives K distinct ids I_n with log-probabilities
// lp_i = log p_i (of softmax(teacher logits / τ)) and its tail mass
// p_tail = 1 − Σ_{i∈I} p_i (exactly 0 when K = V). The student's logits z give
// s = z / τ, lse = log Σ_v exp(s_v), log q_i = s_i − lse, and its own tail
// lset = log Σ_{v∉I} exp(s_v), log q_tail = lset − lse. Then
//   loss_n = τ² · [ Σ_{i∈I} p_i (lp_i − log q_i) + p_tail (log p_tail − log q_tail) ]
// i.e. the KL divergence between the two distributions over K + 1 outcomes (the
// top-K tokens and "anything else"). Why the tail bucket: dropping the tail
// would leave the student free to put mass where the teacher has none left to
// say; renormalising the top-K would lose how much mass the teacher keeps there.
// With the bucket the loss is exact at K = V, a lower bound on the full KL at
// K < V (merging outcomes never raises KL), and zero iff the student matches the
// teacher on the top-K and on the tail's total. τ² keeps gradient sizes
// independent of τ (Hinton et al.). A term with p = 0 counts 0.
//   dz[n,v] = gradScale · τ · (q_v − p̃_v),  p̃_v = p_i if v = id_i, else
//             p_tail · exp(s_v − lset)  (the teacher's tail spread like the student's)
// Rows that do not count (the label loss's mask) get loss 0 and dz 0.
//
// The other divergences (--distill-loss), over the same K + 1 outcomes j (the
// tail bucket as above), with log p̂_j = max(log p_j, FLOOR) where a log of the
// teacher's is divided by (a teacher tail of 0 next to a student tail > 0
// would make the reverse KL infinite; FLOOR = ln 1e−30):
//   skl: KL(p ‖ q) + KL(q ‖ p̂),  KL(q ‖ p̂) = Σ_j q_j (log q_j − log p̂_j)
//   jsd: ½ KL(p ‖ m) + ½ KL(q ‖ m),  m = (p + q) / 2   (no floor needed: m > 0 where p or q is)
// both times τ². Their gradient through the softmax over buckets: with
// h_j = ∂/∂q_j of the non-KL(p‖q) part less a constant (skl: log q_j − log p̂_j;
// jsd: ½ (log q_j − log m_j)) and h̄ = Σ_j q_j h_j,
//   dz[n,v] = gradScale · τ · ( [skl: q_v − p̃_v] + q_v (h_{j(v)} − h̄) )
// (a token of the tail bucket shares its h_tail).

export interface DistillTeacherRows {
  /** Top-K ids [N·K], distinct within a row, each < V. */
  ids: ArrayLike<number>;
  /** Teacher log-probabilities at the temperature [N·K]. */
  logp: ArrayLike<number>;
  /** Teacher tail mass [N]: 1 − Σ p over the row's top-K. */
  tail: ArrayLike<number>;
  K: number;
}

function check(what: string, N: number, V: number, z: ArrayLike<number>, t: DistillTeacherRows, mask: ArrayLike<number>): void {
  if (z.length !== N * V) throw new RangeError(`${what}: logits have ${z.length} values, expected N×V = ${N}×${V}`);
  if (!Number.isInteger(t.K) || t.K < 1 || t.K > V) throw new RangeError(`${what}: K = ${t.K} must be in 1..V = ${V}`);
  if (t.ids.length !== N * t.K || t.logp.length !== N * t.K) throw new RangeError(`${what}: teacher ids/logp must have N×K = ${N}×${t.K} values`);
  if (t.tail.length !== N || mask.length !== N) throw new RangeError(`${what}: tail (${t.tail.length}) and mask (${mask.length}) must have N = ${N} entries`);
}

function logSumExp(vals: number[]): number {
  if (vals.length === 0) return -Infinity;
  const m = Math.max(...vals);
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (const v of vals) s += Math.exp(v - m);
  return m + Math.log(s);
}

export type Divergence = 'kl' | 'skl' | 'jsd';
export const DIVERGENCES: readonly Divergence[] = ['kl', 'skl', 'jsd'];
/** ln 1e−30: the floor of the teacher's log-probabilities where the reverse KL divides by them. */
export const LOGP_FLOOR = Math.log(1e-30);

const logAddExp = (a: number, b: number) => {
  const m = Math.max(a, b);
  return m === -Infinity ? -Infinity : m + Math.log(Math.exp(a - m) + Math.exp(b - m));
};

/**
 * One row's divergence over its buckets (log q_j, log p_j; −∞ for a zero) less
 * the KL(p ‖ q) part, and the h_j, h̄ of its gradient (see the header).
 */
function extraTerms(lq: number[], lp: number[], div: Divergence): { value: number; h: number[]; hbar: number } {
  const h = new Array<number>(lq.length).fill(0);
  if (div === 'kl') return { value: 0, h, hbar: 0 };
  let value = 0;
  let hbar = 0;
  for (let j = 0; j < lq.length; j++) {
    const q = Math.exp(lq[j]);
    if (div === 'skl') {
      h[j] = lq[j] - Math.max(lp[j], LOGP_FLOOR);
      if (q > 0) value += q * h[j];
    } else {
      const lm = logAddExp(lp[j], lq[j]) - Math.LN2;
      h[j] = 0.5 * (lq[j] - lm);
      if (q > 0) value += 0.5 * q * (lq[j] - lm);
      if (lp[j] > -Infinity) value += 0.5 * Math.exp(lp[j]) * (lp[j] - lm);
    }
    if (q > 0) hbar += q * h[j];
    else h[j] = 0; // q_j = 0: its tokens' gradient q_v (h_j − h̄) is 0, not 0 · ∞
  }
  return { value, h, hbar };
}

/** Per-row loss, the student's lse and tail lse at τ, the count of rows that count and the mean loss. */
export function distillForwardRef(z: ArrayLike<number>, N: number, V: number, t: DistillTeacherRows, mask: ArrayLike<number>, tau: number, div: Divergence = 'kl') {
  check('distillForwardRef', N, V, z, t, mask);
  const K = t.K;
  const loss = new Float64Array(N);
  const lse = new Float64Array(N);
  const lset = new Float64Array(N);
  /** Per row: h_j of the top-K then of the tail (K + 1 values), and h̄. */
  const h = new Float64Array(N * (K + 1));
  const hbar = new Float64Array(N);
  let count = 0;
  let sum = 0;
  for (let n = 0; n < N; n++) {
    const s = Array.from({ length: V }, (_, v) => z[n * V + v] / tau);
    const member = new Uint8Array(V);
    for (let i = 0; i < K; i++) {
      const id = t.ids[n * K + i];
      if (!Number.isInteger(id) || id < 0 || id >= V || member[id]) throw new RangeError(`distillForwardRef: row ${n} has teacher id ${id} out of range or twice`);
      member[id] = 1;
    }
    lse[n] = logSumExp(s);
    lset[n] = logSumExp(s.filter((_, v) => !member[v]));
    if (mask[n] === 0) continue;
    let kl = 0;
    const lq: number[] = [];
    const lp: number[] = [];
    for (let i = 0; i < K; i++) {
      const l = t.logp[n * K + i];
      const p = Math.exp(l);
      lq.push(s[t.ids[n * K + i]] - lse[n]);
      lp.push(l);
      if (p > 0) kl += p * (l - lq[i]);
    }
    const pt = t.tail[n];
    if (pt > 0) kl += pt * (Math.log(pt) - (lset[n] - lse[n]));
    if (K < V) {
      lq.push(lset[n] - lse[n]);
      lp.push(pt > 0 ? Math.log(pt) : -Infinity);
    }
    const x = extraTerms(lq, lp, div);
    x.h.forEach((v, j) => (h[n * (K + 1) + j] = v));
    hbar[n] = x.hbar;
    loss[n] = tau * tau * ((div === 'jsd' ? 0 : kl) + x.value);
    sum += loss[n];
    count++;
  }
  return { loss, lse, lset, h, hbar, count, mean: count ? sum / count : 0 };
}

export function distillBackwardRef(z: ArrayLike<number>, N: number, V: number, t: DistillTeacherRows, mask: ArrayLike<number>, tau: number, gradScale: number, div: Divergence = 'kl'): Float64Array {
  const { lse, lset, h, hbar } = distillForwardRef(z, N, V, t, mask, tau, div);
  const K = t.K;
  const dz = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    if (mask[n] === 0) continue;
    const slot = new Int32Array(V).fill(K); // the bucket of each token: i < K in the top-K, K the tail
    for (let i = 0; i < K; i++) slot[t.ids[n * K + i]] = i;
    for (let v = 0; v < V; v++) {
      const s = z[n * V + v] / tau;
      const q = Math.exp(s - lse[n]);
      const j = slot[v];
      const p = j === K ? t.tail[n] * Math.exp(s - lset[n]) : Math.exp(t.logp[n * K + j]);
      const kl = div === 'jsd' ? 0 : q - p;
      dz[n * V + v] = gradScale * tau * (kl + q * (h[n * (K + 1) + j] - hbar[n]));
    }
  }
  return dz;
}

/**
 * The teacher side from full teacher logits [N·V], in f64: log-probabilities at
 * τ, the K largest (ties to the lower id) and the tail mass Σ over the rest.
 */
export function teacherTopKRef(zt: ArrayLike<number>, N: number, V: number, K: number, tau: number): DistillTeacherRows {
  if (zt.length !== N * V) throw new RangeError(`teacherTopKRef: logits have ${zt.length} values, expected N×V = ${N}×${V}`);
  const ids = new Uint32Array(N * K);
  const logp = new Float64Array(N * K);
  const tail = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    const s = Array.from({ length: V }, (_, v) => zt[n * V + v] / tau);
    const l = logSumExp(s);
    const order = s.map((_, v) => v).sort((a, b) => s[b] - s[a] || a - b);
    for (let i = 0; i < K; i++) {
      ids[n * K + i] = order[i];
      logp[n * K + i] = s[order[i]] - l;
    }
    let rest = 0;
    for (let i = K; i < V; i++) rest += Math.exp(s[order[i]] - l);
    tail[n] = rest;
  }
  return { ids, logp, tail, K };
}

/** Full KL(p ‖ q) at temperature 1 per row, from both models' logits (held-out evaluation). */
export function fullKlRef(zt: ArrayLike<number>, zs: ArrayLike<number>, N: number, V: number): Float64Array {
  const out = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    const a = Array.from({ length: V }, (_, v) => zt[n * V + v]);
    const b = Array.from({ length: V }, (_, v) => zs[n * V + v]);
    const la = logSumExp(a);
    const lb = logSumExp(b);
    let kl = 0;
    for (let v = 0; v < V; v++) {
      const lp = a[v] - la;
      if (lp > -Infinity) kl += Math.exp(lp) * (lp - (b[v] - lb));
    }
    out[n] = kl;
  }
  return out;
}
