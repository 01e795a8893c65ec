// qlinear_forward: Y[T,O] = X[T,I] · Wᵀ + lora_scale · XA[T,R] · B[O,R]ᵀ, where
// W[o,k] = scale[o,g]·q[o,k] + offset[o,g], g = k / G, is dequantized in
// registers and never written anywhere.
// Bindings: 0 uniform Params; 1 X f32[T*I]; 2 codes u32[O*WPR] (bit-stream rows,
//           see src/quant/qtensor.ts); 3 scale f32[O*NG]; 4 offset f32[O*NG];
//           5 XA f32[T*R] (X·Aᵀ from a matmul, or a 1-element dummy when R = 0);
//           6 B f32[O*R] (or dummy); 7 Y f32[T*O] (written).
// Threads:  one invocation per (output o, block of 4 tokens): x → o, y → t/4.
//           Each 32-code chunk of the row is `bits` u32 words loaded once; codes
//           are unpacked in registers and reused for 4 tokens.
// Why:      per 16-code sub-chunk (never crossing a group: G is a multiple of 16
//           or the whole row) it accumulates Σx·q and Σx and applies scale and
//           offset once: y += s·Σxq + m·Σx. That is the same factorization the
//           backward into scales and offsets uses. No workgroup memory (costly on
//           SwiftShader); the LoRA epilogue adds a rank-R dot per output.
struct Params { T: u32, I: u32, O: u32, G: u32, bits: u32, WPR: u32, NG: u32, R: u32, lora_scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> codes: array<u32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> offset: array<f32>;
@group(0) @binding(5) var<storage, read> XA: array<f32>;
@group(0) @binding(6) var<storage, read> B: array<f32>;
@group(0) @binding(7) var<storage, read_write> Y: array<f32>;

override WG_X: u32 = 64u;

@compute @workgroup_size(WG_X, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x;
  let t0 = gid.y * 4u;
  if (o >= p.O || t0 >= p.T) { return; }
  let tl = p.T - 1u;
  let xr = array<u32, 4>(t0 * p.I, min(t0 + 1u, tl) * p.I, min(t0 + 2u, tl) * p.I, min(t0 + 3u, tl) * p.I);
  var acc = vec4<f32>(0.0);
  let mask = (1u << p.bits) - 1u;
  let nChunks = (p.I + 31u) / 32u;
  for (var c = 0u; c < nChunks; c++) {
    var words: array<u32, 9>; // up to 8 words per chunk, +1 so straddling reads stay in range
    let wbase = o * p.WPR + c * p.bits;
    for (var i = 0u; i < p.bits; i++) { words[i] = codes[wbase + i]; }
    words[p.bits] = 0u;
    for (var h = 0u; h < 2u; h++) {
      let k0 = c * 32u + h * 16u;
      if (k0 >= p.I) { break; }
      let gi = o * p.NG + k0 / p.G;
      var sxq = vec4<f32>(0.0);
      var sx = vec4<f32>(0.0);
      let kEnd = min(16u, p.I - k0);
      for (var j = 0u; j < kEnd; j++) {
        let bit = (h * 16u + j) * p.bits;
        let wi = bit >> 5u;
        let sh = bit & 31u;
        var v = words[wi] >> sh;
        if (sh + p.bits > 32u) { v = v | (words[wi + 1u] << (32u - sh)); }
        let q = f32(v & mask);
        let k = k0 + j;
        let xv = vec4<f32>(X[xr[0] + k], X[xr[1] + k], X[xr[2] + k], X[xr[3] + k]);
        sxq += xv * q;
        sx += xv;
      }
      acc += scale[gi] * sxq + offset[gi] * sx;
    }
  }
  if (p.R > 0u) {
    var lo = vec4<f32>(0.0);
    for (var r = 0u; r < p.R; r++) {
      let b = B[o * p.R + r];
      lo += b * vec4<f32>(XA[t0 * p.R + r], XA[min(t0 + 1u, tl) * p.R + r], XA[min(t0 + 2u, tl) * p.R + r], XA[min(t0 + 3u, tl) * p.R + r]);
    }
    acc += p.lora_scale * lo;
  }
  for (var i = 0u; i < 4u; i++) {
    let t = t0 + i;
    if (t < p.T) { Y[t * p.O + o] = acc[i]; }
  }
}
