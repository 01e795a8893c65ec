// qlinear_forward: Y[T,O] = X[T,I] · Wᵀ + lora_scale · XA[T,R] · B[O,R]ᵀ, where
// W[o,k] = scale[o,g]·q[o,k] + offset[o,g], g = k / G, is dequantized in
// registers and never written anywhere. Requires I % 4 == 0 (vec4 rows of X;
// qlinear_forward_scalar covers other I).
// Bindings: 0 uniform Params; 1 X vec4<f32>[T*I/4]; 2 codes u32[O*WPR] (bit
//           planes, src/quant/qtensor.ts); 3 scale f32[O*NG]; 4 offset f32[O*NG];
//           5 XA f32[T*R] (X·Aᵀ, dummy when R = 0); 6 B f32[O*R] (dummy);
//           7 Y f32[T*O] (written).
// Threads:  each invocation owns a 4(t) × 4(o) tile, like matmul_blocked:
//           x → o/4, y → t/4. Per step of 4 along I it decodes a vec4 of codes
//           for each of its 4 rows (one word load and one vector shift per bit
//           plane) and does 16 dot products with 4 vec4 of X.
// Parts:    the codes may be split by rows into several buffers (large weights,
//           src/gpu/qtensor_gpu.ts); one dispatch per part, whose rows are
//           O0..O0+OP of W; `codes` holds only those rows.
// Why:      the same register blocking as the fastest plain matmul here, so
//           dequantization rides along almost free; per group it accumulates
//           Σx·q (per token and row) and Σx (per token) and applies scale and
//           offset once: y += s·Σxq + m·Σx. No workgroup memory (barriers are
//           costly on SwiftShader).
struct Params { T: u32, I: u32, O: u32, G: u32, WPR: u32, PB: u32, NG: u32, R: u32, O0: u32, OP: u32, lora_scale: f32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> codes: array<u32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> offset: array<f32>;
@group(0) @binding(5) var<storage, read> XA: array<f32>;
@group(0) @binding(6) var<storage, read> B: array<f32>;
@group(0) @binding(7) var<storage, read_write> Y: array<f32>;

// #include qcode

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o0 = gid.x * 4u;
  let t0 = gid.y * 4u;
  if (o0 >= p.OP || t0 >= p.T) { return; }
  let I4 = p.I / 4u;
  let tl = p.T - 1u;
  let ol = p.OP - 1u;
  let x0 = t0 * I4;
  let x1 = min(t0 + 1u, tl) * I4;
  let x2 = min(t0 + 2u, tl) * I4;
  let x3 = min(t0 + 3u, tl) * I4;
  let oc = vec4<u32>(o0, min(o0 + 1u, ol), min(o0 + 2u, ol), min(o0 + 3u, ol));
  let og = oc + vec4<u32>(p.O0); // rows of W (global)
  let rw = oc * p.WPR;
  let gs = og * p.NG;
  // a_j: outputs of token j for the 4 rows (lanes = rows).
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  for (var g = 0u; g < p.NG; g++) {
    var q0 = vec4<f32>(0.0); // Σ x·q, token 0, lanes = rows
    var q1 = vec4<f32>(0.0);
    var q2 = vec4<f32>(0.0);
    var q3 = vec4<f32>(0.0);
    var s0 = vec4<f32>(0.0); // Σ x, token 0, lanes = 4 consecutive k
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    var s3 = vec4<f32>(0.0);
    let kEnd = min(p.I, (g + 1u) * p.G);
    for (var k = g * p.G; k < kEnd; k += 4u) {
      let w0 = qcode4(rw.x, k);
      let w1 = qcode4(rw.y, k);
      let w2 = qcode4(rw.z, k);
      let w3 = qcode4(rw.w, k);
      let kk = k / 4u;
      let r0 = X[x0 + kk];
      let r1 = X[x1 + kk];
      let r2 = X[x2 + kk];
      let r3 = X[x3 + kk];
      q0 += vec4<f32>(dot(r0, w0), dot(r0, w1), dot(r0, w2), dot(r0, w3));
      q1 += vec4<f32>(dot(r1, w0), dot(r1, w1), dot(r1, w2), dot(r1, w3));
      q2 += vec4<f32>(dot(r2, w0), dot(r2, w1), dot(r2, w2), dot(r2, w3));
      q3 += vec4<f32>(dot(r3, w0), dot(r3, w1), dot(r3, w2), dot(r3, w3));
      s0 += r0;
      s1 += r1;
      s2 += r2;
      s3 += r3;
    }
    let sc = vec4<f32>(scale[gs.x + g], scale[gs.y + g], scale[gs.z + g], scale[gs.w + g]);
    let mo = vec4<f32>(offset[gs.x + g], offset[gs.y + g], offset[gs.z + g], offset[gs.w + g]);
    let one = vec4<f32>(1.0);
    a0 += sc * q0 + mo * dot(s0, one);
    a1 += sc * q1 + mo * dot(s1, one);
    a2 += sc * q2 + mo * dot(s2, one);
    a3 += sc * q3 + mo * dot(s3, one);
  }
  var acc = array<vec4<f32>, 4>(a0, a1, a2, a3);
  if (p.R > 0u) {
    for (var j = 0u; j < 4u; j++) {
      let t = min(t0 + j, tl);
      var lo = vec4<f32>(0.0);
      for (var r = 0u; r < p.R; r++) {
        lo += XA[t * p.R + r] * vec4<f32>(B[og.x * p.R + r], B[og.y * p.R + r], B[og.z * p.R + r], B[og.w * p.R + r]);
      }
      acc[j] += p.lora_scale * lo;
    }
  }
  for (var j = 0u; j < 4u; j++) {
    let t = t0 + j;
    if (t >= p.T) { break; }
    for (var i = 0u; i < 4u; i++) {
      if (o0 + i < p.OP) { Y[t * p.O + p.O0 + o0 + i] = acc[j][i]; }
    }
  }
}
