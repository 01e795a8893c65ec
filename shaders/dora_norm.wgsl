// dora_norm: N[o] = ‖W_o + s·(B·A)_o‖₂, DoRA's per-output-row norm over the
// input dimension, from pieces that never form W + s·B·A (src/gpu/kernels/dora.ts):
//   N[o]² = Wsq[o] + 2s·Σ_k B[o,k]·AWt[k,o] + s²·Σ_k Σ_l B[o,k]·G[k,l]·B[o,l]
// with Wsq = ‖W_o‖² (frozen, computed once), AWt = A·Wᵀ [R, O] (the base's own
// quantized forward run on A's rows as tokens) and G = A·Aᵀ [R, R].
// Bindings: 0 uniform {O, R, s}; 1 Wsq f32[O]; 2 AWt f32[R·O]; 3 B f32[O·R];
//           4 G f32[R·R]; 5 N f32[O] (written).
// Threads:  one invocation per output row o, workgroups of 64 over a 1-D grid
//           folded past 65535 (o = x + y · groups_x · 64).
// Why:      R ≤ a few hundred, so R² multiply-adds per row are small next to the
//           R·O·I of A·Wᵀ; one writer per row needs no reduction across threads.
//           The sum is clamped at 0 before the square root: rounding can take
//           a vanishing row slightly negative.
struct Params { O: u32, R: u32, s: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Wsq: array<f32>;
@group(0) @binding(2) var<storage, read> AWt: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read> G: array<f32>;
@group(0) @binding(5) var<storage, read_write> N: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = gid.x + gid.y * nwg.x * 64u;
  if (o >= p.O) { return; }
  var cross = 0.0;
  var quad = 0.0;
  for (var k = 0u; k < p.R; k = k + 1u) {
    let bk = B[o * p.R + k];
    cross = cross + bk * AWt[k * p.O + o];
    var gb = 0.0;
    for (var l = 0u; l < p.R; l = l + 1u) {
      gb = gb + G[k * p.R + l] * B[o * p.R + l];
    }
    quad = quad + bk * gb;
  }
  N[o] = sqrt(max(0.0, Wsq[o] + 2.0 * p.s * cross + p.s * p.s * quad));
}
