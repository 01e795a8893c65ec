// embedding_forward: X[n, c] = E[ids[n], c] · scale from an f32 table [V, C]
// (frozen: no backward; scale is 1 but for Gemma, whose embeddings are
// multiplied by sqrt(hidden) — folded into the copy rather than a second pass,
// and not into the table, which a tied LM head reads unscaled). The table may come in row chunks (a vocabulary too large for
// one storage binding): this dispatch holds rows row0 .. row0+ROWS−1 and writes
// only the tokens that fall in it; the wrapper dispatches once per chunk.
// Bindings: 0 uniform {N, C, V, row0, ROWS, scale}; 1 ids u32[N]; 2 E f32[ROWS*C];
//           3 X f32[N*C] (written).
// Threads:  one value of X per invocation (consecutive c → coalesced copy of a
//           row), 1-D grid folded into 2-D past 65535 workgroups.
// Why:      an id ≥ V is clamped to V − 1, so a bad id can never read outside
//           the table; the wrapper validates ids on the CPU first
//           (uploadTokenIds throws a RangeError naming the id and position).
struct Params { N: u32, C: u32, V: u32, row0: u32, ROWS: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> E: array<f32>;
@group(0) @binding(3) var<storage, read_write> X: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.N * p.C) { return; }
  let n = i / p.C;
  let c = i % p.C;
  let t = min(ids[n], p.V - 1u);
  if (t < p.row0 || t - p.row0 >= p.ROWS) { return; }
  X[i] = E[(t - p.row0) * p.C + c] * p.scale;
}
