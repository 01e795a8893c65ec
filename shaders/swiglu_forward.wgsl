// swiglu_forward: H = silu(G) ⊙ U over n = N·F values, silu(g) = g·σ(g)
// (the Llama MLP: down_proj(silu(gate_proj(x)) * up_proj(x)); Shazeer, arXiv 2002.05202).
// Bindings: 0 uniform {n}; 1 G f32[n]; 2 U f32[n]; 3 H f32[n] (written).
// Threads:  one value per invocation, 1-D grid folded into 2-D past 65535
//           workgroups (i = x + y · groups_x · WG).
// Why:      σ is formed from e = exp(−|g|) ∈ (0, 1], never exp of a large
//           positive number: WGSL lets implementations assume no infinities,
//           so 1/(1 + exp(−g)) at g = −100 is not safe to rely on.
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> U: array<f32>;
@group(0) @binding(3) var<storage, read_write> H: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let g = G[i];
  let e = exp(-abs(g));
  let sig = select(e, 1.0, g >= 0.0) / (1.0 + e);
  H[i] = g * sig * U[i];
}
