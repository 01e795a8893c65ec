// distill_backward: the gradient of the distillation loss (distill_forward)
// with respect to the student's logits, written over the logits in place
// (row r of the chunk is token n = row0 + r):
//   dz[r,v] = gradScale · τ · (q_v − p̃_v),  q_v = exp(z[r,v]/τ − lse_n),
//   p̃_v = p_i for v = id_i in the teacher's top-K, else p_tail · exp(z[r,v]/τ − lset_n)
// (the teacher's tail mass spread over the tail as the student spreads its own);
// dz = 0 on rows that do not count (TAIL[n] < 0) and on rows r ≥ rows, the
// unused end of the last chunk's buffer, so the head's weight gradient gets
// nothing from them. Two entry points, dispatched back to back:
//   main  one invocation per logit: τ·g·q_v, minus the tail share when v ∉ I_n;
//   topk  one invocation per (row, i < K): dz[r, id_i] −= τ·g·p_i. The ids of a
//         row are distinct, so no two invocations touch one element (no atomics).
// Bindings: 0 uniform Params (as distill_forward); 1 Z f32[R*V] (read,
//           overwritten with dz); 2 IDS u32[N*K]; 3 LOGP f32[N*K]; 4 TAIL f32[N];
//           5 MEMBER u32[N*W]; 6 STAT vec2<f32>[N] (lse, lset from distill_forward).
// Threads:  main: x → v (256 per workgroup), y → r over all R rows of the buffer;
//           topk: x → i (64 per workgroup), y → r.
// Why:      elementwise once lse/lset are known, and in place, so a chunk never
//           needs a second [R, V] buffer (as cross_entropy_backward).
struct Params { rows: u32, V: u32, row0: u32, NS: u32, K: u32, W: u32, invTau: f32, tau: f32, gradScale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> Z: array<f32>;
@group(0) @binding(2) var<storage, read> IDS: array<u32>;
@group(0) @binding(3) var<storage, read> LOGP: array<f32>;
@group(0) @binding(4) var<storage, read> TAIL: array<f32>;
@group(0) @binding(5) var<storage, read> MEMBER: array<u32>;
@group(0) @binding(6) var<storage, read> STAT: array<vec2<f32>>;

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
  let st = STAT[n];
  let s = Z[i] * p.invTau;
  var d = exp(s - st.x);
  let inTop = ((MEMBER[n * p.W + v / 32u] >> (v % 32u)) & 1u) != 0u;
  if (!inTop && pt > 0.0) { d -= pt * exp(s - st.y); } // pt = 0: no tail term (and no 0·∞ when lset is NEG)
  Z[i] = d * p.tau * p.gradScale;
}

@compute @workgroup_size(64)
fn topk(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x;
  let r = gid.y;
  if (k >= p.K || r >= p.rows) { return; }
  let n = p.row0 + r;
  if (TAIL[n] < 0.0) { return; }
  let id = min(IDS[n * p.K + k], p.V - 1u);
  Z[r * p.V + id] -= exp(LOGP[n * p.K + k]) * p.tau * p.gradScale;
}
