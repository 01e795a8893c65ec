// dequantize: W[o,k] = scale[o,g]·q[o,k] + offset[o,g] for a whole QTensor, to f32.
// For tests and debugging only: the training and inference kernels never
// materialize a dequantized weight.
// Bindings: 0 uniform Params; 1 codes u32[O*WPR] (dense rows, src/gpu/qtensor_gpu.ts); 2 scale f32[O*NG];
//           3 offset f32[O*NG]; 4 W f32[O*I] (written).
// Threads:  one invocation per 4 consecutive columns of one row, numbered
//           id = o·⌈I/4⌉ + k/4 over a 1-D grid folded into 2-D.
// Parts:    the codes may be split by rows into several buffers (large weights,
//           src/gpu/qtensor_gpu.ts); one dispatch per part, whose rows are
//           O0..O0+OP of W; `codes` holds only those rows.
// Why:      the same decoder (shaders/include/qcode.wgsl) as the qlinear kernels,
//           so a test of this kernel against the CPU layout checks the decoder.
struct Params { T: u32, I: u32, O: u32, G: u32, WPR: u32, NG: u32, R: u32, O0: u32, OP: u32, lora_scale: f32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> offset: array<f32>;
@group(0) @binding(4) var<storage, read_write> W: array<f32>;

// #include qcode

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let id = gid.y * 65535u * 64u + gid.x;
  let quads = (p.I + 3u) / 4u;
  let k0 = (id % quads) * 4u;
  let o = id / quads;
  if (k0 >= p.I || o >= p.OP) { return; }
  let og = p.O0 + o; // row of W (global)
  let gi = og * p.NG + k0 / p.G;
  let w = scale[gi] * qcode4(o * p.WPR, k0) + offset[gi];
  for (var i = 0u; i < 4u; i++) {
    if (k0 + i < p.I) { W[og * p.I + k0 + i] = w[i]; }
  }
}
