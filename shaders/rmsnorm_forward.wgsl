// rmsnorm_forward: Y[n,:] = X[n,:] · rstd[n] ⊙ W,  rstd[n] = 1 / sqrt(mean_c X[n,c]² + eps)
// (Llama RMSNorm, arXiv 1910.07467; in f32 as transformers computes it).
// Bindings: 0 uniform {N, C, eps}; 1 X f32[N*C]; 2 W f32[C]; 3 Y f32[N*C]
//           (written); 4 rstd f32[N] (written, saved for rmsnorm_backward).
// Threads, two entry points (src/gpu/kernels/rmsnorm.ts picks one):
//   main      one workgroup of WG invocations per row, row = wid.x + wid.y ·
//             groups_x (folded past 65535 rows). Invocation l sums the squares
//             of columns l, l+WG, ... (coalesced), then a tree in workgroup
//             memory combines the WG partial sums. For real GPUs: keeps them
//             busy at small N (decode), where a row per invocation would not.
//   row_main  one row per invocation, no workgroup memory, row = gid.x + gid.y ·
//             groups_x · WG. For SwiftShader, where a workgroup barrier costs
//             ~0.2 ms: 4096 rows of C = 3 take 1 ms here against 900 ms.
// Why the sums are accurate: both split the C ≤ 8192 squares into short f32
// sums (C/WG terms then a log2(WG)-level tree; or blocks of 64 then C/64 block
// sums), so the relative error is ≲ (64 + C/64)·2⁻²⁴ ≈ 1e-5 at worst for
// C = 8192 and far less typically; all terms are ≥ 0, so nothing cancels.
struct Params { N: u32, C: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;

const WG: u32 = 64u;
var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; } // uniform across the workgroup
  let base = row * p.C;
  var ss = 0.0;
  for (var c = l; c < p.C; c += WG) {
    let v = X[base + c];
    ss += v * v;
  }
  part[l] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (l < s) { part[l] += part[l + s]; }
    workgroupBarrier();
  }
  let r = inverseSqrt(part[0] / f32(p.C) + p.eps);
  if (l == 0u) { rstd[row] = r; }
  for (var c = l; c < p.C; c += WG) {
    Y[base + c] = X[base + c] * r * W[c];
  }
}

@compute @workgroup_size(WG)
fn row_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= p.N) { return; }
  let base = row * p.C;
  var ss = 0.0;
  for (var c0 = 0u; c0 < p.C; c0 += 64u) {
    var blk = 0.0;
    let c1 = min(p.C, c0 + 64u);
    for (var c = c0; c < c1; c++) {
      let v = X[base + c];
      blk += v * v;
    }
    ss += blk;
  }
  let r = inverseSqrt(ss / f32(p.C) + p.eps);
  rstd[row] = r;
  for (var c = 0u; c < p.C; c++) {
    Y[base + c] = X[base + c] * r * W[c];
  }
}
