// embedding_q: X[n, c] = (scale[t, g]·q[t, c] + offset[t, g]) · embed_scale, t = ids[n], g = ⌊c/G⌋:
// the token embedding lookup from a QTensor table [V, C] in its GPU layout (src/gpu/qtensor_gpu.ts),
// dequantizing only the N rows the ids name. embed_scale is 1 but for Gemma (sqrt(hidden)), applied
// after the dequantized value exactly as embedding_forward.wgsl applies it to an f32 table.
// Bindings: 0 uniform {N, C, V, G, WPR, NG, row0, ROWS, scale}; 1 ids u32[N];
//           2 codes u32 (rows row0 .. row0+ROWS−1 of the table: one part); 3 scale f32[V·NG];
//           4 offset f32[V·NG]; 5 X f32[N·C] (written).
// Threads:  one invocation per 4 consecutive values of one token's row, id = n·⌈C/4⌉ + c/4, a 1-D grid
//           folded into 2-D past 65535 workgroups.
// Parts:    the codes of a large table are split by rows into buffers within the binding limit; the
//           wrapper dispatches once per part and each dispatch writes only the tokens whose row it holds.
// Why:      the table stays quantized on the GPU (a 32000 × 2048 Q4_K table is 49 MB there, 262 MB as
//           f32), and the tied LM head runs the quantized linear over the same buffers. The decode is
//           dequantize.wgsl's (shaders/include/qcode.wgsl, same expression), so a row equals the
//           dequantized table's row bit for bit. A quad never spans two groups: group sizes are multiples
//           of 4 or the whole row. An id ≥ V is clamped to V − 1 (the CPU validates ids first).
struct Params { N: u32, C: u32, V: u32, G: u32, WPR: u32, NG: u32, row0: u32, ROWS: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> codes: array<u32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> offset: array<f32>;
@group(0) @binding(5) var<storage, read_write> X: array<f32>;

// #include qcode

const WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = gid.x + gid.y * nwg.x * WG;
  let quads = (p.C + 3u) / 4u;
  let n = id / quads;
  if (n >= p.N) { return; }
  let c0 = (id % quads) * 4u;
  let t = min(ids[n], p.V - 1u);
  if (t < p.row0 || t - p.row0 >= p.ROWS) { return; }
  let gi = t * p.NG + c0 / p.G;
  let w = scale[gi] * qcode4((t - p.row0) * p.WPR, c0) + offset[gi];
  for (var i = 0u; i < 4u; i++) {
    if (c0 + i < p.C) { X[n * p.C + c0 + i] = w[i] * p.scale; }
  }
}
