// distill_forward: the distillation loss of a student logits chunk z [R, V]
// against the teacher's top-K (row r is token n = row0 + r of the batch), at
// temperature τ (src/ref/distill.ts states the math):
//   s = z / τ,  lse_n = log Σ_v exp(s_v),  lset_n = log Σ_{v ∉ I_n} exp(s_v),
//   loss_n = τ² · [ Σ_{i<K} p_i (lp_i − (s_{id_i} − lse_n))
//                  + p_tail (log p_tail − (lset_n − lse_n)) ]      (terms with p = 0 count 0)
// the KL between teacher and student over the K top tokens plus one tail bucket.
// Rows with TAIL[n] < 0 do not count (the label loss's mask, folded in by the
// wrapper): loss 0. Two entry points, dispatched back to back:
//   partial  invocation (slice s, row r), s < NS: over the strided slice
//            v = s, s + NS, …: (max, Σ exp(s − max)) of every logit and of the
//            logits outside the top-K (MEMBER bit clear) → PART[r·NS + s];
//   combine  invocation r: merges the NS pairs into lse_n and lset_n (STAT[n]),
//            then sums the K top-K terms and the tail term into LOSS[n].
// Bindings: 0 uniform Params; 1 Z f32[R*V]; 2 IDS u32[N*K] (distinct per row,
//           < V); 3 LOGP f32[N*K] (teacher log-probabilities at τ);
//           4 TAIL f32[N] (teacher tail mass, or −1: row does not count);
//           5 MEMBER u32[N*W] (bit v of row n set iff v ∈ I_n, W = ⌈V/32⌉);
//           6 LOSS f32[N]; 7 STAT vec2<f32>[N] (lse, lset; read by
//           distill_backward); 8 PART vec4<f32>[R*NS] (scratch).
// Threads:  partial: x → slice (64 per workgroup), y → row; combine: x → row.
// Why:      the same split as cross_entropy_forward (V up to 128256 is far too
//           long for one invocation; strided slices keep reads coalesced and a
//           second tiny pass merges them). The tail's own (max, sum) is kept
//           rather than taking Σ_all − Σ_topK: when the top-K holds nearly all of
//           the student's mass that difference is all rounding error, and the
//           tail's log would be noise. lset = NEG when the tail is empty (K = V).
struct Params { rows: u32, V: u32, row0: u32, NS: u32, K: u32, W: u32, invTau: f32, tau: f32, gradScale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Z: array<f32>;
@group(0) @binding(2) var<storage, read> IDS: array<u32>;
@group(0) @binding(3) var<storage, read> LOGP: array<f32>;
@group(0) @binding(4) var<storage, read> TAIL: array<f32>;
@group(0) @binding(5) var<storage, read> MEMBER: array<u32>;
@group(0) @binding(6) var<storage, read_write> LOSS: array<f32>;
@group(0) @binding(7) var<storage, read_write> STAT: array<vec2<f32>>;
@group(0) @binding(8) var<storage, read_write> PART: array<vec4<f32>>;

const NEG = -3.0e38; // below any scaled logit; finite so that NEG − NEG is 0, not NaN

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
  STAT[n] = vec2<f32>(lse, lset);
  let pt = TAIL[n];
  if (pt < 0.0) {
    LOSS[n] = 0.0;
    return;
  }
  // log q = (s − m) − log L, not s − lse: s and lse may be large (logits of 90
  // and more) while their difference is small; s − m is exact near the max.
  var kl = 0.0;
  for (var i = 0u; i < p.K; i++) {
    let lp = LOGP[n * p.K + i];
    let pi = exp(lp);
    let s = Z[r * p.V + min(IDS[n * p.K + i], p.V - 1u)] * p.invTau;
    if (pi > 0.0) { kl += pi * (lp - ((s - m) - logL)); }
  }
  if (pt > 0.0) { kl += pt * (log(pt) - ((mt - m) + (log(lt) - logL))); }
  LOSS[n] = p.tau * p.tau * kl;
}
