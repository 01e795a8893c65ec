// dora_scale: Y[t, o] *= M[o] / N[o] in place for Y [T, O] row-major,
// count = T·O: DoRA's magnitude over norm applied to a linear layer's output
// X·Wᵀ + s·(X·Aᵀ)·Bᵀ, before its bias (PEFT scales base_result − bias).
// Bindings: 0 uniform {count, O}; 1 M f32[O]; 2 N f32[O]; 3 Y f32[count] (updated).
// Threads:  one value per invocation over a 1-D grid folded into 2-D past 65535
//           workgroups (i = x + y · groups_x · WG).
// Why:      a separate memory-bound pass keeps the qlinear / codebook kernels
//           unchanged (one read and write of Y, small next to the product).
struct Params { count: u32, O: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> M: array<f32>;
@group(0) @binding(2) var<storage, read> N: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) { return; }
  let o = i % p.O;
  Y[i] = Y[i] * (M[o] / N[o]);
}
