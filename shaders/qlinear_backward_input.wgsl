// qlinear_backward_input: dX[T,I] = dY[T,O] · W[O,I] + lora_scale · U[T,R] · A[R,I],
// with W = scale·q + offset dequantized in registers and U = dY·B computed
// beforehand (matmul_strided, nn).
// Bindings: 0 uniform Params; 1 dY f32[T*O]; 2 codes u32[O*WPR]; 3 scale f32[O*NG];
//           4 offset f32[O*NG]; 5 U f32[T*R] (dummy when R = 0); 6 A f32[R*I]
//           (dummy); 7 dX f32[T*I] (written, or accumulated when beta = 1).
// Threads:  one invocation per (input column k, block of 4 tokens): x → k, y → t/4.
//           It walks down column k of W: per row o one (or two, when the code
//           straddles a word) u32 reads, one dequantize, reused for 4 tokens.
// Why:      the gradient flowing to earlier layers must never need a dequantized
//           copy of W either; column walks read one word per row, which is the
//           same traffic as the forward pass. Neighbouring invocations read
//           neighbouring codes, so the words are shared through the cache.
struct Params { T: u32, I: u32, O: u32, G: u32, bits: u32, WPR: u32, NG: u32, R: u32, lora_scale: f32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dY: array<f32>;
@group(0) @binding(2) var<storage, read> codes: array<u32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> offset: array<f32>;
@group(0) @binding(5) var<storage, read> U: array<f32>;
@group(0) @binding(6) var<storage, read> A: array<f32>;
@group(0) @binding(7) var<storage, read_write> dX: array<f32>;

@compute @workgroup_size(64, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x;
  let t0 = gid.y * 4u;
  if (k >= p.I || t0 >= p.T) { return; }
  let tl = p.T - 1u;
  let tr = array<u32, 4>(t0, min(t0 + 1u, tl), min(t0 + 2u, tl), min(t0 + 3u, tl));
  let bit = k * p.bits;
  let wofs = bit >> 5u;
  let sh = bit & 31u;
  let straddle = sh + p.bits > 32u;
  let mask = (1u << p.bits) - 1u;
  let g = k / p.G;
  var acc = vec4<f32>(0.0);
  for (var o = 0u; o < p.O; o++) {
    let wi = o * p.WPR + wofs;
    var v = codes[wi] >> sh;
    if (straddle) { v = v | (codes[wi + 1u] << (32u - sh)); }
    let gi = o * p.NG + g;
    let w = scale[gi] * f32(v & mask) + offset[gi];
    acc += w * vec4<f32>(dY[tr[0] * p.O + o], dY[tr[1] * p.O + o], dY[tr[2] * p.O + o], dY[tr[3] * p.O + o]);
  }
  if (p.R > 0u) {
    var lo = vec4<f32>(0.0);
    for (var r = 0u; r < p.R; r++) {
      let a = A[r * p.I + k];
      lo += a * vec4<f32>(U[tr[0] * p.R + r], U[tr[1] * p.R + r], U[tr[2] * p.R + r], U[tr[3] * p.R + r]);
    }
    acc += p.lora_scale * lo;
  }
  for (var i = 0u; i < 4u; i++) {
    let t = t0 + i;
    if (t < p.T) {
      let idx = t * p.I + k;
      var v = acc[i];
      if (p.beta != 0.0) { v += p.beta * dX[idx]; }
      dX[idx] = v;
    }
  }
}
