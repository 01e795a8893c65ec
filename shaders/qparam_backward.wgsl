// qparam_backward: chain rule of qparam_forward,
//   dθ[j] = Σ_{e ∈ ptr[j]..ptr[j+1]} coef[e] · (isOffset[e] ? doffset : dscale)[group[e]]
// Bindings: 0 uniform {N, beta}; 1 ptr u32[N+1]; 2 group u32[E]; 3 coef f32[E];
//           4 isOffset u32[E]; 5 dscale f32[G]; 6 doffset f32[G];
//           7 dtheta f32[N] (written, or accumulated when beta = 1).
// Threads:  one invocation per trainable parameter j (2-D grid folded).
// Why:      a gather over the transposed map (CSR) instead of a scatter, so no
//           atomics are needed; each θ has only a few children (1–2 for PEQA,
//           8–16 sub-blocks for a K-quant super-block).
struct Params { N: u32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ptr: array<u32>;
@group(0) @binding(2) var<storage, read> grp: array<u32>;
@group(0) @binding(3) var<storage, read> coef: array<f32>;
@group(0) @binding(4) var<storage, read> isOffset: array<u32>;
@group(0) @binding(5) var<storage, read> dscale: array<f32>;
@group(0) @binding(6) var<storage, read> doffset: array<f32>;
@group(0) @binding(7) var<storage, read_write> dtheta: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.y * 65535u * 64u + gid.x;
  if (j >= p.N) { return; }
  var acc = 0.0;
  for (var e = ptr[j]; e < ptr[j + 1u]; e++) {
    let g = grp[e];
    acc += coef[e] * select(dscale[g], doffset[g], isOffset[e] != 0u);
  }
  if (p.beta != 0.0) { acc += p.beta * dtheta[j]; }
  dtheta[j] = acc;
}
