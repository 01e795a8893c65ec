// hidden_l1: DWQ's hidden-state term of a distillation at one depth point —
// the student's residual stream S [N, C] against the teacher's T [N, C] at the
// same point (src/ref/hidden_l1.ts states the math):
//   forward   LOSS[n] += scale · Σ_c |S[n,c] − T[n,c]|             on counted rows
//   backward  DRES[n,c] += gradScale · scale · sign(S[n,c] − T[n,c])  on counted rows
// (sign(0) = 0, the subgradient's midpoint). A row counts as for the label
// loss: MASK[n] ≠ 0 and TARGETS[n] < V. Both add, so several points (and the
// distillation loss already in LOSS, the residual gradient already in DRES)
// sum without copies.
// Bindings: 0 uniform Params; 1 S f32[N*C]; 2 T f32[N*C]; 3 TARGETS u32[N];
//           4 MASK u32[N]; 5 OUT f32 (forward: LOSS[N]; backward: DRES[N*C]).
// Threads:  forward: x → row (64 per workgroup), one invocation sums its row;
//           backward: element gid.x + gid.y · 256 · num_workgroups.x (a grid
//           folded past 65535 workgroups, as elementwise.ts's foldedGrid).
// Why:      the per-row sum is only read back for the step's loss figure, so a
//           plain loop per row is enough; the gradient is elementwise and lands
//           straight in the residual gradient the layer backward reads next.
struct Params { N: u32, C: u32, V: u32, scale: f32, gradScale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> S: array<f32>;
@group(0) @binding(2) var<storage, read> T: array<f32>;
@group(0) @binding(3) var<storage, read> TARGETS: array<u32>;
@group(0) @binding(4) var<storage, read> MASK: array<u32>;
@group(0) @binding(5) var<storage, read_write> OUT: array<f32>;

fn counts(n: u32) -> bool {
  return MASK[n] != 0u && TARGETS[n] < p.V;
}

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  if (n >= p.N || !counts(n)) { return; }
  var s = 0.0;
  for (var c = 0u; c < p.C; c++) { s += abs(S[n * p.C + c] - T[n * p.C + c]); }
  OUT[n] += p.scale * s;
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.N * p.C || !counts(i / p.C)) { return; }
  OUT[i] += p.gradScale * p.scale * sign(S[i] - T[i]);
}
