// distill_backward: the gradient of the distillation loss (distill_forward)
// with respect to the student's logits, written over the logits in place
// (row r of the chunk is token n = row0 + r), by MODE (src/ref/distill.ts):
//   dz[r,v] = gradScale · τ · ( [kl, skl: q_v − p̃_v] + [skl, jsd: q_v (h_{j(v)} − h̄)] ),
//   q_v = exp(z[r,v]/τ − lse_n)  (taken as exp((s − m) − log L), as distill_forward),
//   p̃_v = p_i for v = id_i in the teacher's top-K, else p_tail · exp(z[r,v]/τ − lset_n)
// (the teacher's tail mass spread over the tail as the student spreads its own;
// every tail token shares the tail bucket's h_tail, kept by distill_forward
// with h̄ in STAT). dz = 0 on rows that do not count (TAIL[n] < 0) and on
// rows r ≥ rows, the unused end of the last chunk's buffer, so the head's
// weight gradient gets nothing from them. Two entry points, dispatched in this
// order:
//   topk  one invocation per (row, i < K): the whole dz[r, id_i] (it alone
//         knows p_i and h_i). The ids of a row are distinct, so no two
//         invocations touch one element (no atomics);
//   main  one invocation per logit: every other element (tail tokens, rows
//         that do not count, rows ≥ rows); a top-K token of a counted row is
//         left as topk wrote it.
// Bindings: 0 uniform Params (as distill_forward); 1 Z f32[R*V] (read,
//           overwritten with dz); 2 IDS u32[N*K]; 3 LOGP f32[N*K]; 4 TAIL f32[N];
//           5 MEMBER u32[N*W]; 6 STAT vec4<f32>[2N] ([2n] m, log L, m_t, log L_t;
//           [2n+1] h_tail, h̄, lse, lset: distill_forward's).
// Threads:  main: x → v (256 per workgroup), y → r over all R rows of the buffer;
//           topk: x → i (64 per workgroup), y → r.
// Why:      elementwise once lse/lset are known, and in place, so a chunk never
//           needs a second [R, V] buffer (as cross_entropy_backward).
struct Params { rows: u32, V: u32, row0: u32, NS: u32, K: u32, W: u32, invTau: f32, tau: f32, gradScale: f32, mode: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> Z: array<f32>;
@group(0) @binding(2) var<storage, read> IDS: array<u32>;
@group(0) @binding(3) var<storage, read> LOGP: array<f32>;
@group(0) @binding(4) var<storage, read> TAIL: array<f32>;
@group(0) @binding(5) var<storage, read> MEMBER: array<u32>;
@group(0) @binding(6) var<storage, read> STAT: array<vec4<f32>>;

const FLOOR = -69.0775528; // ln 1e−30, as distill_forward
const LN2 = 0.693147181;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let v = gid.x;
  let r = gid.y;
  if (v >= p.V) { return; }
  let i = r * p.V + v;
  if (r >= p.rows) {
    Z[i] = 0.0;
    return;
  }
  let n = p.row0 + r;
  let pt = TAIL[n];
  if (pt < 0.0) {
    Z[i] = 0.0;
    return;
  }
  if (((MEMBER[n * p.W + v / 32u] >> (v % 32u)) & 1u) != 0u) { return; } // topk's
  let st = STAT[2u * n];
  let h = STAT[2u * n + 1u];
  let s = Z[i] * p.invTau;
  let q = exp((s - st.x) - st.y);
  var d = 0.0;
  if (p.mode != 2u) {
    d = q;
    if (pt > 0.0) { d -= pt * exp((s - st.z) - st.w); } // v is in the tail, so it is not empty; pt = 0: no tail term
  }
  if (p.mode != 0u) { d += q * (h.x - h.y); }
  Z[i] = d * p.tau * p.gradScale;
}

@compute @workgroup_size(64)
fn topk(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x;
  let r = gid.y;
  if (k >= p.K || r >= p.rows) { return; }
  let n = p.row0 + r;
  if (TAIL[n] < 0.0) { return; }
  let st = STAT[2u * n];
  let hbar = STAT[2u * n + 1u].y;
  let i = r * p.V + min(IDS[n * p.K + k], p.V - 1u);
  let lp = LOGP[n * p.K + k];
  let lq = (Z[i] * p.invTau - st.x) - st.y;
  let q = exp(lq);
  var d = 0.0;
  if (p.mode != 2u) { d = q - exp(lp); }
  if (p.mode == 1u && q > 0.0) { d += q * ((lq - max(lp, FLOOR)) - hbar); }
  if (p.mode == 2u && q > 0.0) {
    let hi = max(lp, lq);
    let lm = hi + log(exp(lp - hi) + exp(lq - hi)) - LN2;
    d += q * (0.5 * (lq - lm) - hbar);
  }
  Z[i] = d * p.tau * p.gradScale;
}
