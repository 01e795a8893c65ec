// vqlinear_forward_f16: vqlinear_forward.wgsl's Y[T,O] = X[T,I] · Wᵀ + lora_scale ·
// XA[T,R] · B[O,R]ᵀ with the products in f16 where the adapter grants
// `shader-f16`; sums stay f32. W[o,k] = scale[o,g]·σ·table[idx][k mod VD] +
// offset[o,g] is looked up in registers, never written. Requires I % 4 == 0.
// Bindings: 0 uniform Params (TMAX: max |table value|); 1 XH vec4<f16>[T*I/4]
//           (X in f16, cast_f16.wgsl); 2 codes u32[OP*WPR] (VqTensor rows,
//           src/gpu/vq_gpu.ts); 3 scale f32[O*NG]; 4 offset f32[O*NG]; 5 XA
//           f32[T*R] (X·Aᵀ, dummy when R = 0); 6 B f32[O*R] (dummy); 7 Y f32[T*O]
//           (written); 8 table vec4<f32>[⌈size*VD/4⌉].
// Threads:  as qlinear_forward_f16: 8(t) × 4(o) outputs per invocation, x → o/4,
//           y → t/8; per step of 4 along I one vec4<f16> of W per row, 32 f16
//           dot products, each added to an f32 sum.
// Range:    as qlinear_forward_f16, W is formed per group relative to a bound
//           of its largest |w|, |scale|·TMAX + |offset|: scale and offset are
//           divided by 2^e (exact) so that bound / 2^e ∈ [0.5, 1), and the group's
//           f32 sum is multiplied back by 2^e. The σ·table value is rounded to
//           f16 first (exact for the ggml grids, which are small integers or
//           halves; ~2^-11 relative for a learned table).
// Why:      packed f16 math and half the bytes of X on GPUs with f16 ALUs.
enable f16;

struct Params { T: u32, I: u32, O: u32, G: u32, WPR: u32, NG: u32, R: u32, O0: u32, OP: u32, lora_scale: f32, beta: f32, IW: u32, TMAX: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> XH: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read> codes: array<u32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> offset: array<f32>;
@group(0) @binding(5) var<storage, read> XA: array<f32>;
@group(0) @binding(6) var<storage, read> B: array<f32>;
@group(0) @binding(7) var<storage, read_write> Y: array<f32>;
@group(0) @binding(8) var<storage, read> table: array<vec4<f32>>;

// #include vqcode
// #include qlinear_store

override WG_X: u32 = 16u;
override WG_Y: u32 = 4u;

fn acc4h(a: ptr<function, vec4<f32>>, r: vec4<f16>, w0: vec4<f16>, w1: vec4<f16>, w2: vec4<f16>, w3: vec4<f16>) {
  *a += vec4<f32>(vec4<f16>(dot(r, w0), dot(r, w1), dot(r, w2), dot(r, w3)));
}

// Weights k..k+3 of the row at word `row` with this group's f16 scale and offset.
fn wv(row: u32, k: u32, s: f16, m: f16) -> vec4<f16> {
  return fma(vec4<f16>(vq4(row, p.IW, k)), vec4<f16>(s), vec4<f16>(m));
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
  for (var g = 0u; g < p.NG; g++) {
    let s = vec4<f32>(scale[gs.x + g], scale[gs.y + g], scale[gs.z + g], scale[gs.w + g]);
    let m = vec4<f32>(offset[gs.x + g], offset[gs.y + g], offset[gs.z + g], offset[gs.w + g]);
    let e = frexp(abs(s) * p.TMAX + abs(m)).exp;
    let sh = vec4<f16>(ldexp(s, -e));
    let mh = vec4<f16>(ldexp(m, -e));
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
      let w0 = wv(rw.x, k, sh.x, mh.x);
      let w1 = wv(rw.y, k, sh.y, mh.y);
      let w2 = wv(rw.z, k, sh.z, mh.z);
      let w3 = wv(rw.w, k, sh.w, mh.w);
      let kk = k / 4u;
      acc4h(&q0, XH[tk0 * I4 + kk], w0, w1, w2, w3);
      acc4h(&q1, XH[tk1 * I4 + kk], w0, w1, w2, w3);
      acc4h(&q2, XH[tk2 * I4 + kk], w0, w1, w2, w3);
      acc4h(&q3, XH[tk3 * I4 + kk], w0, w1, w2, w3);
      acc4h(&q4, XH[tk4 * I4 + kk], w0, w1, w2, w3);
      acc4h(&q5, XH[tk5 * I4 + kk], w0, w1, w2, w3);
      acc4h(&q6, XH[tk6 * I4 + kk], w0, w1, w2, w3);
      acc4h(&q7, XH[tk7 * I4 + kk], w0, w1, w2, w3);
    }
    let up = ldexp(vec4<f32>(1.0), e);
    a0 += up * q0;
    a1 += up * q1;
    a2 += up * q2;
    a3 += up * q3;
    a4 += up * q4;
    a5 += up * q5;
    a6 += up * q6;
    a7 += up * q7;
  }
  store_tile(array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7), t0, o0, og);
}
