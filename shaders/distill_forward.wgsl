// distill_forward: the distillation loss of a student logits chunk z [R, V]
// against the teacher's top-K (row r is token n = row0 + r of the batch), at
// temperature τ (src/ref/distill.ts states the math):
//   s = z / τ,  lse_n = log Σ_v exp(s_v),  lset_n = log Σ_{v ∉ I_n} exp(s_v),
//   loss_n = τ² · [ Σ_{i<K} p_i (lp_i − (s_{id_i} − lse_n))
//                  + p_tail (log p_tail − (lset_n − lse_n)) ]      (terms with p = 0 count 0)
// the KL between teacher and student over the K top tokens plus one tail bucket.
// MODE (--distill-loss) picks the divergence over the same K + 1 buckets, the
// tail bucket handled exactly as above: 0 kl (the above); 1 skl, the above
// plus KL(q ‖ p̂) with log p̂ = max(log p, FLOOR = ln 1e−30) (a teacher tail of
// 0 would make it infinite); 2 jsd, ½KL(p ‖ m) + ½KL(q ‖ m), m = (p + q)/2;
// all times τ². For skl/jsd the combine pass also keeps h_tail and h̄ = Σ q_j h_j
// of the gradient (src/ref/distill.ts states h) for distill_backward.
// Rows with TAIL[n] < 0 do not count (the label loss's mask, folded in by the
// wrapper): loss 0. Two entry points, dispatched back to back:
//   partial  invocation (slice s, row r), s < NS: over the strided slice
//            v = s, s + NS, …: (max, Σ exp(s − max)) of every logit and of the
//            logits outside the top-K (MEMBER bit clear) → PART[r·NS + s];
//   combine  invocation r: merges the NS pairs into lse_n and lset_n (STAT[n]),
//            then sums the K top-K terms and the tail term into LOSS[n], and
//            (skl, jsd) h_tail and h̄ into STAT[n].zw.
// Bindings: 0 uniform Params; 1 Z f32[R*V]; 2 IDS u32[N*K] (distinct per row,
//           < V); 3 LOGP f32[N*K] (teacher log-probabilities at τ);
//           4 TAIL f32[N] (teacher tail mass, or −1: row does not count);
//           5 MEMBER u32[N*W] (bit v of row n set iff v ∈ I_n, W = ⌈V/32⌉);
//           6 LOSS f32[N]; 7 STAT vec4<f32>[2N]: [2n] (m, log L, m_t, log L_t),
//           the max and log Σ exp(s − max) of all logits and of the tail's,
//           [2n+1] (h_tail, h̄, lse, lset); read by distill_backward, which
//           takes log q = (s − m) − log L as here: s − lse would lose the
//           low bits of a large lse; 8 PART vec4<f32>[R*NS] (scratch).
// Threads:  partial: x → slice (64 per workgroup), y → row; combine: x → row.
// Why:      the same split as cross_entropy_forward (V up to 128256 is far too
//           long for one invocation; strided slices keep reads coalesced and a
//           second tiny pass merges them). The tail's own (max, sum) is kept
//           rather than taking Σ_all − Σ_topK: when the top-K holds nearly all of
//           the student's mass that difference is all rounding error, and the
//           tail's log would be noise. lset = NEG when the tail is empty (K = V).
struct Params { rows: u32, V: u32, row0: u32, NS: u32, K: u32, W: u32, invTau: f32, tau: f32, gradScale: f32, mode: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Z: array<f32>;
@group(0) @binding(2) var<storage, read> IDS: array<u32>;
@group(0) @binding(3) var<storage, read> LOGP: array<f32>;
@group(0) @binding(4) var<storage, read> TAIL: array<f32>;
@group(0) @binding(5) var<storage, read> MEMBER: array<u32>;
@group(0) @binding(6) var<storage, read_write> LOSS: array<f32>;
@group(0) @binding(7) var<storage, read_write> STAT: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> PART: array<vec4<f32>>;

const NEG = -3.0e38; // below any scaled logit; finite so that NEG − NEG is 0, not NaN
const FLOOR = -69.0775528; // ln 1e−30 (src/ref/distill.ts LOGP_FLOOR)
const LN2 = 0.693147181;

// One bucket's share of the skl/jsd terms (log q, log p; NEG for a zero):
// x = its part of the divergence beyond KL(p ‖ q), y = its h (0 where q = 0).
// jsd's x is not ½p·log(p/m) + ½q·log(q/m) as written: where p ≈ q those two
// terms cancel to far below the rounding of log m. With t = (q − p)/(q + p) =
// tanh((log q − log p)/2) it is (p + q)/4 · φ(t), φ(t) = (1−t)log(1−t) + (1+t)log(1+t)
// = Σ_k t^2k / (k(2k − 1)), summed as a series for |t| < ½ (and t by its own
// series for small differences, where 1 − e^−|d| would cancel too).
fn extra(lq: f32, lp: f32) -> vec2<f32> {
  let q = exp(lq);
  if (p.mode == 1u) {
    let h = lq - max(lp, FLOOR);
    return select(vec2<f32>(0.0), vec2<f32>(q * h, h), q > 0.0);
  }
  let hi = max(lp, lq);
  let lm = hi + log(exp(lp - hi) + exp(lq - hi)) - LN2;
  let d = lq - lp;
  let a = 0.5 * abs(d);
  var t = 0.0;
  if (a < 0.05) {
    let a2 = a * a;
    t = a * (1.0 + a2 * (-1.0 / 3.0 + a2 * (2.0 / 15.0 - a2 * (17.0 / 315.0))));
  } else {
    let e = exp(-2.0 * a);
    t = (1.0 - e) / (1.0 + e);
  }
  var phi = 0.0;
  if (t < 0.5) {
    let t2 = t * t;
    var tk = t2;
    for (var k = 1u; k <= 9u; k++) {
      phi += tk / f32(k * (2u * k - 1u));
      tk *= t2;
    }
  } else {
    phi = select(2.0 * LN2, (1.0 - t) * log(1.0 - t) + (1.0 + t) * log(1.0 + t), t < 1.0);
  }
  let x = 0.25 * (exp(lp) + q) * phi;
  return vec2<f32>(x, select(0.0, 0.5 * (lq - lm), q > 0.0));
}

fn member(n: u32, v: u32) -> bool {
  return ((MEMBER[n * p.W + v / 32u] >> (v % 32u)) & 1u) != 0u;
}

@compute @workgroup_size(64)
fn partial(@builtin(global_invocation_id) gid: vec3<u32>) {
  let sl = gid.x;
  let r = gid.y;
  if (sl >= p.NS || r >= p.rows) { return; }
  let base = r * p.V;
  let n = p.row0 + r;
  var m = NEG;
  var mt = NEG;
  for (var v = sl; v < p.V; v += p.NS) {
    let s = Z[base + v] * p.invTau;
    m = max(m, s);
    if (!member(n, v)) { mt = max(mt, s); }
  }
  var l = 0.0;
  var lt = 0.0;
  for (var v = sl; v < p.V; v += p.NS) {
    let s = Z[base + v] * p.invTau;
    l += exp(s - m);
    if (!member(n, v)) { lt += exp(s - mt); }
  }
  PART[r * p.NS + sl] = vec4<f32>(m, l, mt, lt); // empty parts give (NEG, 0): no weight below
}

@compute @workgroup_size(64)
fn combine(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= p.rows) { return; }
  let pb = r * p.NS;
  var m = NEG;
  var mt = NEG;
  for (var s = 0u; s < p.NS; s++) {
    m = max(m, PART[pb + s].x);
    mt = max(mt, PART[pb + s].z);
  }
  var l = 0.0;
  var lt = 0.0;
  for (var s = 0u; s < p.NS; s++) {
    let q = PART[pb + s];
    l += q.y * exp(q.x - m);
    lt += q.w * exp(q.z - mt);
  }
  let n = p.row0 + r;
  let logL = log(l);
  let lse = m + logL;
  let lset = select(NEG, mt + log(lt), lt > 0.0);
  let pt = TAIL[n];
  if (pt < 0.0) {
    STAT[2u * n] = vec4<f32>(m, logL, mt, select(0.0, log(lt), lt > 0.0));
    STAT[2u * n + 1u] = vec4<f32>(0.0, 0.0, lse, lset);
    LOSS[n] = 0.0;
    return;
  }
  // log q = (s − m) − log L, not s − lse: s and lse may be large (logits of 90
  // and more) while their difference is small; s − m is exact near the max.
  var kl = 0.0;
  var ex = 0.0;
  var hbar = 0.0;
  for (var i = 0u; i < p.K; i++) {
    let lp = LOGP[n * p.K + i];
    let pi = exp(lp);
    let s = Z[r * p.V + min(IDS[n * p.K + i], p.V - 1u)] * p.invTau;
    let lq = (s - m) - logL;
    if (pi > 0.0) { kl += pi * (lp - lq); }
    if (p.mode != 0u) {
      let e = extra(lq, lp);
      ex += e.x;
      hbar += exp(lq) * e.y;
    }
  }
  var htail = 0.0;
  if (lt > 0.0) { // a tail bucket exists (K < V)
    let lqt = (mt - m) + (log(lt) - logL);
    if (pt > 0.0) { kl += pt * (log(pt) - lqt); }
    if (p.mode != 0u) {
      let e = extra(lqt, select(NEG, log(pt), pt > 0.0));
      ex += e.x;
      htail = e.y;
      hbar += exp(lqt) * e.y;
    }
  }
  STAT[2u * n] = vec4<f32>(m, logL, mt, select(0.0, log(lt), lt > 0.0));
  STAT[2u * n + 1u] = vec4<f32>(htail, hbar, lse, lset);
  LOSS[n] = p.tau * p.tau * (select(kl, 0.0, p.mode == 2u) + ex);
}
