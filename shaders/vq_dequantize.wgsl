// vq_dequantize: W[o,k] = scale[o,g]·σ[o,k]·table[idx[o,⌊k/VD⌋]][k mod VD] + offset[o,g]
// for a whole codebook tensor, to f32. Tests and debugging only: the training
// and inference kernels never materialize a dequantized weight.
// Bindings: 0 uniform Params; 1 codes u32[OP*WPR] (VqTensor rows, src/gpu/vq_gpu.ts);
//           2 scale f32[O*NG]; 3 offset f32[O*NG]; 4 W f32[O*I] (written);
//           5 table vec4<f32>[⌈size*VD/4⌉].
// Threads:  one invocation per 4 consecutive columns of one row, id = o·⌈I/4⌉ + k/4
//           over a folded 1-D grid.
// Parts:    one dispatch per part of the codes, rows O0..O0+OP of W.
// Why:      the same decoder (shaders/include/vqcode.wgsl) as the vqlinear
//           kernels, so testing this kernel against dequantizeVq checks it.
struct Params { T: u32, I: u32, O: u32, G: u32, WPR: u32, NG: u32, R: u32, O0: u32, OP: u32, lora_scale: f32, beta: f32, IW: u32, TMAX: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> offset: array<f32>;
@group(0) @binding(4) var<storage, read_write> W: array<f32>;
@group(0) @binding(5) var<storage, read> table: array<vec4<f32>>;

// #include vqcode

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let id = gid.y * 65535u * 64u + gid.x;
  let quads = (p.I + 3u) / 4u;
  let k0 = (id % quads) * 4u;
  let o = id / quads;
  if (k0 >= p.I || o >= p.OP) { return; }
  let og = p.O0 + o;
  let gi = og * p.NG + k0 / p.G;
  let w = scale[gi] * vq4(o * p.WPR, p.IW, k0) + offset[gi];
  for (var i = 0u; i < 4u; i++) {
    if (k0 + i < p.I) { W[og * p.I + k0 + i] = w[i]; }
  }
}
