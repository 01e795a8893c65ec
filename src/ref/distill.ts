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

/** Per-row loss, the student's lse and tail lse at τ, the count of rows that count and the mean loss. */
export function distillForwardRef(z: ArrayLike<number>, N: number, V: number, t: DistillTeacherRows, mask: ArrayLike<number>, tau: number) {
  check('distillForwardRef', N, V, z, t, mask);
  const K = t.K;
  const loss = new Float64Array(N);
  const lse = new Float64Array(N);
  const lset = new Float64Array(N);
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
    for (let i = 0; i < K; i++) {
      const lp = t.logp[n * K + i];
      const p = Math.exp(lp);
      if (p > 0) kl += p * (lp - (s[t.ids[n * K + i]] - lse[n]));
    }
    const pt = t.tail[n];
    if (pt > 0) kl += pt * (Math.log(pt) - (lset[n] - lse[n]));
    loss[n] = tau * tau * kl;
    sum += loss[n];
    count++;
  }
  return { loss, lse, lset, count, mean: count ? sum / count : 0 };
}

export function distillBackwardRef(z: ArrayLike<number>, N: number, V: number, t: DistillTeacherRows, mask: ArrayLike<number>, tau: number, gradScale: number): Float64Array {
  const { lse, lset } = distillForwardRef(z, N, V, t, mask, tau);
  const K = t.K;
  const dz = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    if (mask[n] === 0) continue;
    const pTeacher = new Float64Array(V).fill(NaN); // NaN: not in the top-K
    for (let i = 0; i < K; i++) pTeacher[t.ids[n * K + i]] = Math.exp(t.logp[n * K + i]);
    for (let v = 0; v < V; v++) {
      const s = z[n * V + v] / tau;
      const q = Math.exp(s - lse[n]);
      const p = Number.isNaN(pTeacher[v]) ? t.tail[n] * Math.exp(s - lset[n]) : pTeacher[v];
      dz[n * V + v] = gradScale * tau * (q - p);
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
