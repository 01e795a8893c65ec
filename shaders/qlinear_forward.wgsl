// qlinear_forward: Y[T,O] = X[T,I] · Wᵀ + lora_scale · XA[T,R] · B[O,R]ᵀ, where
// W[o,k] = scale[o,g]·q[o,k] + offset[o,g], g = k / G, is dequantized in
// registers and never written anywhere. Requires I % 4 == 0 (vec4 rows of X;
// qlinear_forward_scalar covers other I).
// Bindings: 0 uniform Params; 1 XP vec4<f32>[T*I/4] (X prescaled by lane,
//           qlinear_forward_prep.wgsl); 2 codes u32[O*WPR (+1)] (dense rows,
//           src/gpu/qtensor_gpu.ts); 3 scale f32[O*NG]; 4 offset f32[O*NG];
//           5 XA f32[T*R] (X·Aᵀ, dummy when R = 0); 6 B f32[O*R] (dummy);
//           7 Y f32[T*O] (written); 8 SX f32[T*NG] (Σx per token and group).
// Threads:  each invocation owns an 8(t) × 4(o) tile: x → o/4, y → t/8. Per
//           step of 4 along I it decodes one vec4 of codes for each of its 4
//           rows and does 32 dot products with 8 vec4 of XP.
// Decode:   qcode4_lanes (shaders/include/qcode.wgsl): the bits of codes
//           k..k+3 are shifted to bit 0 once (a scalar op, two words when B =
//           3, 5, 6 and the quad crosses one), then one AND with the masks
//           (m, m<<B, m<<2B, m<<3B) leaves lane j = q·2^(B·j); XP carries the
//           inverse power of two, so no per-lane shift is needed.
// Scale:    two schemes, chosen per pipeline by the override STEP_SCALE:
//           - per group (default): Σ XP·q accumulates per group in q_j and the
//             scale is applied once per group. Fewest operations when groups
//             are long.
//           - per step (groups of 16 and 32): one pass over the row, each
//             decoded vec4 multiplied by its group's scale. On SwiftShader a
//             nested loop costs more than the multiply when a group is only
//             4–8 steps (~1.3× at 16); with longer groups it is ~10 % slower.
//           Offsets come last either way: Σ_g offset[o,g]·SX[t,g].
// Parts:    the codes may be split by rows into several buffers (large weights,
//           src/gpu/qtensor_gpu.ts); one dispatch per part, whose rows are
//           O0..O0+OP of W; `codes` holds only those rows.
// Why:      register blocking without workgroup memory (barriers are costly on
//           SwiftShader); 8 tokens per decoded vec4 amortize the decode so the
//           kernel keeps pace with the plain f32 matmul (bench/qlinear.ts).
//           Measured slower there: 4-token tiles (decode shared by too few
//           tokens), 12/16-token and 2-row tiles (spills), 8 codes per step,
//           token loops over private arrays (kept in memory, not registers).
struct Params { T: u32, I: u32, O: u32, G: u32, WPR: u32, NG: u32, R: u32, O0: u32, OP: u32, lora_scale: f32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> XP: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> codes: array<u32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> offset: array<f32>;
@group(0) @binding(5) var<storage, read> XA: array<f32>;
@group(0) @binding(6) var<storage, read> B: array<f32>;
@group(0) @binding(7) var<storage, read_write> Y: array<f32>;
@group(0) @binding(8) var<storage, read> SX: array<f32>;

// #include qcode
// #include qlinear_store

override STEP_SCALE: bool = false; // see Scale above
// 16 × 4: measured a little ahead of 8 × 8 on SwiftShader (rows vary fastest).
override WG_X: u32 = 16u;
override WG_Y: u32 = 4u;

// a += the 4 rows' dot products with one vec4 of XP (lanes = rows).
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
  let og = oc + vec4<u32>(p.O0); // rows of W (global)
  let rw = oc * p.WPR;
  let gs = og * p.NG;
  // The 8 tokens (clamped: rows past T repeat the last one and are not stored).
  let tk0 = min(t0 + 0u, tl);
  let tk1 = min(t0 + 1u, tl);
  let tk2 = min(t0 + 2u, tl);
  let tk3 = min(t0 + 3u, tl);
  let tk4 = min(t0 + 4u, tl);
  let tk5 = min(t0 + 5u, tl);
  let tk6 = min(t0 + 6u, tl);
  let tk7 = min(t0 + 7u, tl);
  // a_j: outputs of token j for the 4 rows (lanes = rows).
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  var a4 = vec4<f32>(0.0);
  var a5 = vec4<f32>(0.0);
  var a6 = vec4<f32>(0.0);
  var a7 = vec4<f32>(0.0);
  if (STEP_SCALE) {
    // One pass over the row, each decoded vec4 scaled by its group's scale.
    let gsh = select(countTrailingZeros(p.G), 31u, p.G >= p.I); // group of k = k >> gsh (G = 2^n or the row)
    for (var k = 0u; k < p.I; k += 4u) {
      let g = k >> gsh;
      let w0 = scale[gs.x + g] * qcode4_lanes(rw.x, k);
      let w1 = scale[gs.y + g] * qcode4_lanes(rw.y, k);
      let w2 = scale[gs.z + g] * qcode4_lanes(rw.z, k);
      let w3 = scale[gs.w + g] * qcode4_lanes(rw.w, k);
      let kk = k / 4u;
      acc4(&a0, XP[tk0 * I4 + kk], w0, w1, w2, w3);
      acc4(&a1, XP[tk1 * I4 + kk], w0, w1, w2, w3);
      acc4(&a2, XP[tk2 * I4 + kk], w0, w1, w2, w3);
      acc4(&a3, XP[tk3 * I4 + kk], w0, w1, w2, w3);
      acc4(&a4, XP[tk4 * I4 + kk], w0, w1, w2, w3);
      acc4(&a5, XP[tk5 * I4 + kk], w0, w1, w2, w3);
      acc4(&a6, XP[tk6 * I4 + kk], w0, w1, w2, w3);
      acc4(&a7, XP[tk7 * I4 + kk], w0, w1, w2, w3);
    }
  } else {
    // Per group: Σ XP·q in q_j, then the scale once.
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
        let w0 = qcode4_lanes(rw.x, k);
        let w1 = qcode4_lanes(rw.y, k);
        let w2 = qcode4_lanes(rw.z, k);
        let w3 = qcode4_lanes(rw.w, k);
        let kk = k / 4u;
        acc4(&q0, XP[tk0 * I4 + kk], w0, w1, w2, w3);
        acc4(&q1, XP[tk1 * I4 + kk], w0, w1, w2, w3);
        acc4(&q2, XP[tk2 * I4 + kk], w0, w1, w2, w3);
        acc4(&q3, XP[tk3 * I4 + kk], w0, w1, w2, w3);
        acc4(&q4, XP[tk4 * I4 + kk], w0, w1, w2, w3);
        acc4(&q5, XP[tk5 * I4 + kk], w0, w1, w2, w3);
        acc4(&q6, XP[tk6 * I4 + kk], w0, w1, w2, w3);
        acc4(&q7, XP[tk7 * I4 + kk], w0, w1, w2, w3);
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
  // Offsets: Σ_g offset[o,g]·SX[t,g].
  for (var g = 0u; g < p.NG; g++) {
    let mo = vec4<f32>(offset[gs.x + g], offset[gs.y + g], offset[gs.z + g], offset[gs.w + g]);
    a0 += mo * SX[tk0 * p.NG + g];
    a1 += mo * SX[tk1 * p.NG + g];
    a2 += mo * SX[tk2 * p.NG + g];
    a3 += mo * SX[tk3 * p.NG + g];
    a4 += mo * SX[tk4 * p.NG + g];
    a5 += mo * SX[tk5 * p.NG + g];
    a6 += mo * SX[tk6 * p.NG + g];
    a7 += mo * SX[tk7 * p.NG + g];
  }
  store_tile(array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7), t0, o0, og);
}
