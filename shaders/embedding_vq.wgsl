// embedding_vq: X[n, c] = (scale[t, g]·σ[t, c]·table[idx[t, ⌊c/VD⌋]][c mod VD] + offset[t, g]) · embed_scale,
// t = ids[n], g = ⌊c/G⌋: the token embedding lookup from a codebook table [V, C] (a VqTensor on the GPU,
// src/gpu/vq_gpu.ts: i-quant grids, IQ4/FP4 tables, ternary, learned), dequantizing only the N rows the
// ids name; embed_scale is 1 but for Gemma, applied as embedding_forward.wgsl applies it.
// Bindings: 0 uniform {N, C, V, G, WPR, NG, row0, ROWS, IW, scale}; 1 ids u32[N];
//           2 codes u32 (VqTensor rows row0 .. row0+ROWS−1: one part); 3 scale f32[V·NG];
//           4 offset f32[V·NG]; 5 X f32[N·C] (written); 6 table vec4<f32>[⌈size·VD/4⌉].
// Threads:  one invocation per 4 consecutive values of one token's row, id = n·⌈C/4⌉ + c/4, a 1-D grid
//           folded into 2-D past 65535 workgroups. C % 4 == 0 (checked by the wrapper).
// Parts:    one dispatch per part of the codes; each writes only the tokens whose row it holds.
// Why:      the table stays in its codebook form on the GPU and the tied LM head runs the codebook
//           linear over it; the decode is vq_dequantize.wgsl's (shaders/include/vqcode.wgsl, same
//           expression), so a row equals the dequantized table's row bit for bit. An id ≥ V is clamped.
struct Params { N: u32, C: u32, V: u32, G: u32, WPR: u32, NG: u32, row0: u32, ROWS: u32, IW: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> codes: array<u32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> offset: array<f32>;
@group(0) @binding(5) var<storage, read_write> X: array<f32>;
@group(0) @binding(6) var<storage, read> table: array<vec4<f32>>;

// #include vqcode

const WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = gid.x + gid.y * nwg.x * WG;
  let quads = p.C / 4u;
  let n = id / quads;
  if (n >= p.N) { return; }
  let c0 = (id % quads) * 4u;
  let t = min(ids[n], p.V - 1u);
  if (t < p.row0 || t - p.row0 >= p.ROWS) { return; }
  let gi = t * p.NG + c0 / p.G;
  let w = scale[gi] * vq4((t - p.row0) * p.WPR, p.IW, c0) + offset[gi];
  let x = n * p.C + c0;
  X[x] = w.x * p.scale;
  X[x + 1u] = w.y * p.scale;
  X[x + 2u] = w.z * p.scale;
  X[x + 3u] = w.w * p.scale;
}
