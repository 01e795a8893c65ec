// qlinear_forward_scalar: Y[T,O] = X[T,I] · Wᵀ + lora_scale · XA[T,R] · B[O,R]ᵀ,
// W[o,k] = scale[o,g]·q[o,k] + offset[o,g] (g = k / G) dequantized in registers.
// The fallback for rows whose length I is not a multiple of 4 (qlinear_forward
// needs vec4 rows); same math, scalar loads.
// Bindings: 0 uniform Params; 1 X f32[T*I]; 2 codes u32[O*WPR] (dense rows,
//           src/gpu/qtensor_gpu.ts); 3 scale f32[O*NG]; 4 offset f32[O*NG];
//           5 XA f32[T*R] (dummy when R = 0); 6 B f32[O*R] (dummy); 7 Y f32[T*O].
// Threads:  one invocation per (output o, block of 4 tokens): x → o, y → t/4;
//           each code is decoded once and used for 4 tokens.
// Parts:    the codes may be split by rows into several buffers (large weights,
//           src/gpu/qtensor_gpu.ts); one dispatch per part, whose rows are
//           O0..O0+OP of W; `codes` holds only those rows.
// Why:      per group it accumulates Σx·q and Σx and applies scale and offset
//           once (y += s·Σxq + m·Σx), the factorization the backward uses too.
struct Params { T: u32, I: u32, O: u32, G: u32, WPR: u32, NG: u32, R: u32, O0: u32, OP: u32, lora_scale: f32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> codes: array<u32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> offset: array<f32>;
@group(0) @binding(5) var<storage, read> XA: array<f32>;
@group(0) @binding(6) var<storage, read> B: array<f32>;
@group(0) @binding(7) var<storage, read_write> Y: array<f32>;

// #include qcode

@compute @workgroup_size(64, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x;
  let t0 = gid.y * 4u;
  if (o >= p.OP || t0 >= p.T) { return; }
  let og = p.O0 + o; // row of W (global)
  let tl = p.T - 1u;
  let xr = array<u32, 4>(t0 * p.I, min(t0 + 1u, tl) * p.I, min(t0 + 2u, tl) * p.I, min(t0 + 3u, tl) * p.I);
  let row = o * p.WPR;
  var acc = vec4<f32>(0.0);
  for (var g = 0u; g < p.NG; g++) {
    var sxq = vec4<f32>(0.0);
    var sx = vec4<f32>(0.0);
    let kEnd = min(p.I, (g + 1u) * p.G);
    for (var k = g * p.G; k < kEnd; k++) {
      let q = f32(qcode(row, k));
      let xv = vec4<f32>(X[xr[0] + k], X[xr[1] + k], X[xr[2] + k], X[xr[3] + k]);
      sxq += xv * q;
      sx += xv;
    }
    acc += scale[og * p.NG + g] * sxq + offset[og * p.NG + g] * sx;
  }
  if (p.R > 0u) {
    var lo = vec4<f32>(0.0);
    for (var r = 0u; r < p.R; r++) {
      lo += B[og * p.R + r] * vec4<f32>(XA[t0 * p.R + r], XA[min(t0 + 1u, tl) * p.R + r], XA[min(t0 + 2u, tl) * p.R + r], XA[min(t0 + 3u, tl) * p.R + r]);
    }
    acc += p.lora_scale * lo;
  }
  for (var i = 0u; i < 4u; i++) {
    if (t0 + i < p.T) { Y[(t0 + i) * p.O + og] = acc[i]; }
  }
}
