// geglu_forward: H = gelu_tanh(G) ⊙ U over n = N·F values (Gemma's MLP:
// down_proj(gelu_pytorch_tanh(gate_proj(x)) * up_proj(x)); llama.cpp's
// LLM_FFN_GELU with a parallel gate), with the tanh approximation
//   gelu_tanh(g) = ½·g·(1 + tanh(√(2/π)·(g + 0.044715·g³))).
// Bindings: 0 uniform {n}; 1 G f32[n]; 2 U f32[n]; 3 H f32[n] (written).
// Threads:  one value per invocation, 1-D grid folded into 2-D past 65535
//           workgroups (i = x + y · groups_x · WG), as swiglu_forward.
// Why:      tanh is formed from e = exp(−2|a|) ∈ (0, 1] as sign(a)·(1 − e)/(1 + e),
//           never exp of a large positive number (WGSL lets implementations
//           assume no infinities, and g³ is large for |g| ≳ 10). The gate is
//           not saved: the backward recomputes it from G.
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> U: array<f32>;
@group(0) @binding(3) var<storage, read_write> H: array<f32>;

const WG: u32 = 256u;
const K0: f32 = 0.7978845608028654; // √(2/π)
const K1: f32 = 0.044715;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let g = G[i];
  let a = K0 * (g + K1 * g * g * g);
  let e = exp(-2.0 * abs(a));
  let t = sign(a) * (1.0 - e) / (1.0 + e);
  H[i] = 0.5 * g * (1.0 + t) * U[i];
}
