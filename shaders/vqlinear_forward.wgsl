// vqlinear_forward: Y[T,O] = X[T,I] · Wᵀ + lora_scale · XA[T,R] · B[O,R]ᵀ for a
// codebook tensor, W[o,k] = scale[o,g]·σ[o,k]·table[idx[o,⌊k/VD⌋]][k mod VD] +
// offset[o,g], g = ⌊k/G⌋ (src/quant/vq/vqtensor.ts). W is looked up in registers
// and never written anywhere. Requires I % 4 == 0 (vec4 rows of X).
// Bindings: 0 uniform Params; 1 X vec4<f32>[T*I/4]; 2 codes u32[OP*WPR] (VqTensor
//           rows, src/gpu/vq_gpu.ts); 3 scale f32[O*NG]; 4 offset f32[O*NG];
//           5 XA f32[T*R + T*NG]: X·Aᵀ (R = 0: none), then SX, Σx per token and
//           group (vqlinear_group_sums.wgsl); 6 B f32[O*R] (dummy when R = 0);
//           7 Y f32[T*O] (written); 8 table vec4<f32>[⌈size*VD/4⌉].
//           SX rides in XA's buffer to stay within 8 storage buffers per stage
//           (WebGPU's default limit), the table taking the ninth's place.
// Threads:  as qlinear_forward: each invocation owns an 8(t) × 4(o) tile, x → o/4,
//           y → t/8. Per step of 4 along I it decodes one vec4 of σ·table values
//           for each of its 4 rows (shaders/include/vqcode.wgsl) and does 32 dot
//           products with 8 vec4 of X.
// Scale:    as qlinear_forward, chosen per pipeline by STEP_SCALE: per group
//           (Σ x·v per group, scale once per group) or, for groups of 16 and 32,
//           per step (each decoded vec4 times its group's scale, one loop).
//           Offsets last: Σ_g offset[o,g]·SX[t,g].
// Parts:    one dispatch per part of the codes, rows O0..O0+OP of W.
// Why:      the decode (one or two word loads, a shift, 4 table loads, a sign
//           xor) is shared by 8 tokens, so the table lookups cost little next to
//           the 32 dot products; the same register tiling as qlinear_forward.
//           On SwiftShader the table gathers (one per lane, bounds-checked) are
//           what this kernel pays over qlinear_forward: with the lookups
//           replaced by the index itself it ran at ~0.9× the f32 matmul, with
//           them ~0.65× for vectors of 8 (bench/qlinear.ts, T=128 576→1536).
//           Measured no faster there: the table in workgroup memory (~15 %
//           slower), steps of 8 weights for vectors of 8 (one index and sign
//           word per 8 weights; ~20 % slower, spills), sign words loaded once
//           per 16 weights (no change).
struct Params { T: u32, I: u32, O: u32, G: u32, WPR: u32, NG: u32, R: u32, O0: u32, OP: u32, lora_scale: f32, beta: f32, IW: u32, TMAX: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> codes: array<u32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> offset: array<f32>;
@group(0) @binding(5) var<storage, read> XA: array<f32>;
@group(0) @binding(6) var<storage, read> B: array<f32>;
@group(0) @binding(7) var<storage, read_write> Y: array<f32>;
@group(0) @binding(8) var<storage, read> table: array<vec4<f32>>;

// #include vqcode
// #include qlinear_store

override STEP_SCALE: bool = false;
override WG_X: u32 = 16u;
override WG_Y: u32 = 4u;

fn acc4(a: ptr<function, vec4<f32>>, r: vec4<f32>, w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>, w3: vec4<f32>) {
  *a += vec4<f32>(dot(r, w0), dot(r, w1), dot(r, w2), dot(r, w3));
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o0 = gid.x * 4u;
  let t0 = gid.y * 8u;
  if (o0 >= p.OP || t0 >= p.T) { return; }
  let I4 = p.I / 4u;
  let tl = p.T - 1u;
  let ol = p.OP - 1u;
  let oc = vec4<u32>(o0, min(o0 + 1u, ol), min(o0 + 2u, ol), min(o0 + 3u, ol));
  let og = oc + vec4<u32>(p.O0);
  let rw = oc * p.WPR;
  let gs = og * p.NG;
  let iw = p.IW;
  let tk0 = min(t0 + 0u, tl);
  let tk1 = min(t0 + 1u, tl);
  let tk2 = min(t0 + 2u, tl);
  let tk3 = min(t0 + 3u, tl);
  let tk4 = min(t0 + 4u, tl);
  let tk5 = min(t0 + 5u, tl);
  let tk6 = min(t0 + 6u, tl);
  let tk7 = min(t0 + 7u, tl);
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  var a4 = vec4<f32>(0.0);
  var a5 = vec4<f32>(0.0);
  var a6 = vec4<f32>(0.0);
  var a7 = vec4<f32>(0.0);
  if (STEP_SCALE) {
    let gsh = select(countTrailingZeros(p.G), 31u, p.G >= p.I);
    for (var k = 0u; k < p.I; k += 4u) {
      let g = k >> gsh;
      let w0 = scale[gs.x + g] * vq4(rw.x, iw, k);
      let w1 = scale[gs.y + g] * vq4(rw.y, iw, k);
      let w2 = scale[gs.z + g] * vq4(rw.z, iw, k);
      let w3 = scale[gs.w + g] * vq4(rw.w, iw, k);
      let kk = k / 4u;
      acc4(&a0, X[tk0 * I4 + kk], w0, w1, w2, w3);
      acc4(&a1, X[tk1 * I4 + kk], w0, w1, w2, w3);
      acc4(&a2, X[tk2 * I4 + kk], w0, w1, w2, w3);
      acc4(&a3, X[tk3 * I4 + kk], w0, w1, w2, w3);
      acc4(&a4, X[tk4 * I4 + kk], w0, w1, w2, w3);
      acc4(&a5, X[tk5 * I4 + kk], w0, w1, w2, w3);
      acc4(&a6, X[tk6 * I4 + kk], w0, w1, w2, w3);
      acc4(&a7, X[tk7 * I4 + kk], w0, w1, w2, w3);
    }
  } else {
    for (var g = 0u; g < p.NG; g++) {
      var q0 = vec4<f32>(0.0);
      var q1 = vec4<f32>(0.0);
      var q2 = vec4<f32>(0.0);
      var q3 = vec4<f32>(0.0);
      var q4 = vec4<f32>(0.0);
      var q5 = vec4<f32>(0.0);
      var q6 = vec4<f32>(0.0);
      var q7 = vec4<f32>(0.0);
      let kEnd = min(p.I, (g + 1u) * p.G);
      for (var k = g * p.G; k < kEnd; k += 4u) {
        let w0 = vq4(rw.x, iw, k);
        let w1 = vq4(rw.y, iw, k);
        let w2 = vq4(rw.z, iw, k);
        let w3 = vq4(rw.w, iw, k);
        let kk = k / 4u;
        acc4(&q0, X[tk0 * I4 + kk], w0, w1, w2, w3);
        acc4(&q1, X[tk1 * I4 + kk], w0, w1, w2, w3);
        acc4(&q2, X[tk2 * I4 + kk], w0, w1, w2, w3);
        acc4(&q3, X[tk3 * I4 + kk], w0, w1, w2, w3);
        acc4(&q4, X[tk4 * I4 + kk], w0, w1, w2, w3);
        acc4(&q5, X[tk5 * I4 + kk], w0, w1, w2, w3);
        acc4(&q6, X[tk6 * I4 + kk], w0, w1, w2, w3);
        acc4(&q7, X[tk7 * I4 + kk], w0, w1, w2, w3);
      }
      let sc = vec4<f32>(scale[gs.x + g], scale[gs.y + g], scale[gs.z + g], scale[gs.w + g]);
      a0 += sc * q0;
      a1 += sc * q1;
      a2 += sc * q2;
      a3 += sc * q3;
      a4 += sc * q4;
      a5 += sc * q5;
      a6 += sc * q6;
      a7 += sc * q7;
    }
  }
  // Offsets: Σ_g offset[o,g]·SX[t,g], SX after X·Aᵀ in XA.
  let sx = p.T * p.R;
  for (var g = 0u; g < p.NG; g++) {
    let mo = vec4<f32>(offset[gs.x + g], offset[gs.y + g], offset[gs.z + g], offset[gs.w + g]);
    a0 += mo * XA[sx + tk0 * p.NG + g];
    a1 += mo * XA[sx + tk1 * p.NG + g];
    a2 += mo * XA[sx + tk2 * p.NG + g];
    a3 += mo * XA[sx + tk3 * p.NG + g];
    a4 += mo * XA[sx + tk4 * p.NG + g];
    a5 += mo * XA[sx + tk5 * p.NG + g];
    a6 += mo * XA[sx + tk6 * p.NG + g];
    a7 += mo * XA[sx + tk7 * p.NG + g];
  }
  store_tile(array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7), t0, o0, og);
}
