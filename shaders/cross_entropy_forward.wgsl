// cross_entropy_forward: per token row of a logits chunk z [R, V] (row r is
// token n = row0 + r of the batch),
//   lse_n = log Σ_v exp(z[r,v]),  loss_n = lse_n − z[r, target_n] if mask_n ≠ 0
//   and target_n < V, else 0 (an ignore index such as 0xffffffff = −1 is ≥ V).
// Two entry points, dispatched back to back:
//   partial  invocation (slice s, row r), s < NS: max m and Σ exp(z − m) over
//            the strided slice v = s, s + NS, s + 2·NS, … → PART[r·NS + s];
//   combine  invocation r: M = max_s m_s, L = Σ_s l_s·exp(m_s − M); writes
//            LSE[n] = M + log L (saved for cross_entropy_backward) and LOSS[n].
// Bindings: 0 uniform Params; 1 Z f32[R*V]; 2 TARGET u32[N]; 3 MASK u32[N];
//           4 LOSS f32[N], 5 LSE f32[N] (rows row0..row0+rows−1 written);
//           6 PART vec2<f32>[R*NS] (scratch).
// Threads:  partial: x → slice (64 per workgroup), y → row; combine: x → row.
// Why:      V reaches 128256 (Llama 3), far too long for one invocation, so
//           each row is split over NS invocations (the wrapper picks NS ≈ V/128,
//           at most 256) and a second tiny pass merges the NS (max, sum) pairs.
//           Measured on SwiftShader against one 64- or 256-wide workgroup per
//           row with a tree reduction in workgroup memory (barriers): V = 32000,
//           64 rows: 88 ms vs 106 / 162 ms; V = 128256, 16 rows: 93 vs 102 /
//           128 ms; V = 512, 128 rows: 3–6 vs 26 / 231 ms. On real GPUs the
//           strided slices keep reads coalesced (neighbour lanes read
//           neighbour logits) and R·NS invocations fill the machine, so the
//           same design is kept there. Each slice takes the max first and then
//           Σ exp(z − m) (two reads, one exp per logit, overflow-free).
struct Params { rows: u32, V: u32, row0: u32, NS: u32, gradScale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Z: array<f32>;
@group(0) @binding(2) var<storage, read> TARGET: array<u32>;
@group(0) @binding(3) var<storage, read> MASK: array<u32>;
@group(0) @binding(4) var<storage, read_write> LOSS: array<f32>;
@group(0) @binding(5) var<storage, read_write> LSE: array<f32>;
@group(0) @binding(6) var<storage, read_write> PART: array<vec2<f32>>;

const NEG = -3.0e38; // below any logit; finite so that NEG − NEG is 0, not NaN

@compute @workgroup_size(64)
fn partial(@builtin(global_invocation_id) gid: vec3<u32>) {
  let s = gid.x;
  let r = gid.y;
  if (s >= p.NS || r >= p.rows) { return; }
  let base = r * p.V;
  var m = NEG;
  for (var v = s; v < p.V; v += p.NS) { m = max(m, Z[base + v]); }
  var l = 0.0;
  for (var v = s; v < p.V; v += p.NS) { l += exp(Z[base + v] - m); }
  PART[r * p.NS + s] = vec2<f32>(m, l); // an empty slice (s ≥ V) gives (NEG, 0): no weight below
}

@compute @workgroup_size(64)
fn combine(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= p.rows) { return; }
  let pb = r * p.NS;
  var m = NEG;
  for (var s = 0u; s < p.NS; s++) { m = max(m, PART[pb + s].x); }
  var l = 0.0;
  for (var s = 0u; s < p.NS; s++) {
    let q = PART[pb + s];
    l += q.y * exp(q.x - m);
  }
  let n = p.row0 + r;
  let lse = m + log(l);
  LSE[n] = lse;
  let t = TARGET[n];
  let counted = MASK[n] != 0u && t < p.V;
  LOSS[n] = select(0.0, lse - Z[r * p.V + min(t, p.V - 1u)], counted);
}
