// qlinear_backward_quant: gradients of the per-group scale and offset of W,
//   dscale[o,g]  = Σ_{k∈g} q[o,k] · Σ_t dY[t,o]·X[t,k]
//   doffset[o,g] = Σ_{k∈g}          Σ_t dY[t,o]·X[t,k]
// (from y = Σ_g s_g·Σ_{k∈g} x_k q_k + m_g·Σ_{k∈g} x_k). The integer codes get no
// gradient: they are frozen (PEQA, arXiv 2305.14152).
// Bindings: 0 uniform Params; 1 X f32[T*I]; 2 dY f32[T*O]; 3 codes u32[O*WPR];
//           4 dscale f32[O*NG]; 5 doffset f32[O*NG] (written, or accumulated
//           when beta = 1, for gradient accumulation over micro-batches).
// Threads:  one invocation per (o, g): x → g, y → o. It walks the group's
//           columns once, extracting each code once and reducing over t.
// Why:      O·NG invocations is few when groups are large (per-channel: O), but
//           each does G·T multiply-adds with no reduction across invocations,
//           so no atomics and no barriers; the same total work as the forward.
struct Params { T: u32, I: u32, O: u32, G: u32, bits: u32, WPR: u32, NG: u32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> dY: array<f32>;
@group(0) @binding(3) var<storage, read> codes: array<u32>;
@group(0) @binding(4) var<storage, read_write> dscale: array<f32>;
@group(0) @binding(5) var<storage, read_write> doffset: array<f32>;

@compute @workgroup_size(16, 4)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let g = gid.x;
  let o = gid.y;
  if (g >= p.NG || o >= p.O) { return; }
  let mask = (1u << p.bits) - 1u;
  let k0 = g * p.G;
  let k1 = min(p.I, k0 + p.G);
  var ds = 0.0;
  var dm = 0.0;
  for (var k = k0; k < k1; k++) {
    let bit = k * p.bits;
    let wi = o * p.WPR + (bit >> 5u);
    let sh = bit & 31u;
    var v = codes[wi] >> sh;
    if (sh + p.bits > 32u) { v = v | (codes[wi + 1u] << (32u - sh)); }
    var c = 0.0;
    for (var t = 0u; t < p.T; t++) { c += dY[t * p.O + o] * X[t * p.I + k]; }
    ds += f32(v & mask) * c;
    dm += c;
  }
  let gi = o * p.NG + g;
  if (p.beta != 0.0) {
    ds += p.beta * dscale[gi];
    dm += p.beta * doffset[gi];
  }
  dscale[gi] = ds;
  doffset[gi] = dm;
}
