// geglu_backward: gradients of H = gelu_tanh(G) ⊙ U (geglu_forward) from dH:
//   dU = dH · gelu_tanh(G)
//   dG = dH · U · gelu_tanh'(G),
//   gelu_tanh'(g) = ½·(1 + t) + ½·g·(1 − t²)·√(2/π)·(1 + 3·0.044715·g²),
//   t = tanh(√(2/π)·(g + 0.044715·g³)).
// Bindings: 0 uniform {n}; 1 dH f32[n]; 2 G f32[n]; 3 U f32[n];
//           4 dG f32[n], 5 dU f32[n] (written).
// Threads:  one value per invocation, 1-D grid folded as in geglu_forward.
// Why:      G and U are read back rather than gelu(G) saved (a few ALU ops
//           against N·F floats per layer). 1 − t² is formed as 4e/(1 + e)²
//           from e = exp(−2|a|), not by subtracting t² from 1, so it keeps
//           full relative precision in the tails and nothing overflows.
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dH: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read> U: array<f32>;
@group(0) @binding(4) var<storage, read_write> dG: array<f32>;
@group(0) @binding(5) var<storage, read_write> dU: array<f32>;

const WG: u32 = 256u;
const K0: f32 = 0.7978845608028654; // √(2/π)
const K1: f32 = 0.044715;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let g = G[i];
  let d = dH[i];
  let a = K0 * (g + K1 * g * g * g);
  let e = exp(-2.0 * abs(a));
  let t = sign(a) * (1.0 - e) / (1.0 + e);
  let sech2 = 4.0 * e / ((1.0 + e) * (1.0 + e));
  dU[i] = d * 0.5 * g * (1.0 + t);
  dG[i] = d * U[i] * (0.5 * (1.0 + t) + 0.5 * g * sech2 * K0 * (1.0 + 3.0 * K1 * g * g));
}
