// bias_add: Y[n, o] += Bias[o] in place for Y [N, O] row-major, n·O = count
// (the q/k/v biases of Qwen2, Llama's attention_bias / mlp_bias).
// Bindings: 0 uniform {count, O}; 1 Bias f32[O]; 2 Y f32[count] (updated).
// Threads:  one value per invocation over a 1-D grid folded into 2-D past 65535
//           workgroups (i = x + y · groups_x · WG).
// Why:      a separate pass instead of a matmul epilogue keeps the matmul and
//           qlinear kernels free of optional bindings; it is memory-bound and
//           costs one read and one write of Y, small next to the product.
//           The gradient of a bias is a column sum of dY (a reduction), so it
//           belongs with the backward kernels when biases train.
struct Params { count: u32, O: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) { return; }
  Y[i] = Y[i] + Bias[i % p.O];
}
