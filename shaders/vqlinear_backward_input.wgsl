// vqlinear_backward_input: dX[T,I] = dY[T,O] · W[O,I] + lora_scale · U[T,R] · A[R,I]
// for a codebook tensor, W = scale·σ·table[idx] + offset looked up in registers
// (shaders/include/vqcode.wgsl), U = dY·B computed beforehand (matmul_strided, nn).
// Requires I % 4 == 0.
// Bindings: 0 uniform Params; 1 dY f32[T*O]; 2 codes u32[OP*WPR] (VqTensor rows,
//           src/gpu/vq_gpu.ts); 3 scale f32[O*NG]; 4 offset f32[O*NG]; 5 U f32[T*R]
//           (dummy when R = 0); 6 A f32[R*I] (dummy); 7 dX f32[T*I] (written, or
//           accumulated when beta = 1); 8 table vec4<f32>[⌈size*VD/4⌉].
// Threads:  as qlinear_backward_input: each invocation owns 8 tokens × 4
//           consecutive columns k0..k0+3 (x → k/4, y → t/8) and walks down those
//           columns of W, one decoded vec4 per row reused for 8 tokens.
// Parts:    one dispatch per part of the codes (later parts accumulate, beta = 1),
//           rows O0..O0+OP of W.
// Why:      the gradient flowing to earlier layers never needs a dequantized W.
//           Neighbouring invocations read neighbouring index words of the same
//           row (and the same table entries for vectors of 8), so loads are shared
//           within a workgroup.
struct Params { T: u32, I: u32, O: u32, G: u32, WPR: u32, NG: u32, R: u32, O0: u32, OP: u32, lora_scale: f32, beta: f32, IW: u32, TMAX: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dY: array<f32>;
@group(0) @binding(2) var<storage, read> codes: array<u32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> offset: array<f32>;
@group(0) @binding(5) var<storage, read> U: array<f32>;
@group(0) @binding(6) var<storage, read> A: array<f32>;
@group(0) @binding(7) var<storage, read_write> dX: array<f32>;
@group(0) @binding(8) var<storage, read> table: array<vec4<f32>>;

// #include vqcode

@compute @workgroup_size(16, 4)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k0 = gid.x * 4u;
  let t0 = gid.y * 8u;
  if (k0 >= p.I || t0 >= p.T) { return; }
  let tl = p.T - 1u;
  let d0 = t0 * p.O;
  let d1 = min(t0 + 1u, tl) * p.O;
  let d2 = min(t0 + 2u, tl) * p.O;
  let d3 = min(t0 + 3u, tl) * p.O;
  let d4 = min(t0 + 4u, tl) * p.O;
  let d5 = min(t0 + 5u, tl) * p.O;
  let d6 = min(t0 + 6u, tl) * p.O;
  let d7 = min(t0 + 7u, tl) * p.O;
  let g = k0 / p.G; // a quad never crosses a group: G is a multiple of 16, or I
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  var a4 = vec4<f32>(0.0);
  var a5 = vec4<f32>(0.0);
  var a6 = vec4<f32>(0.0);
  var a7 = vec4<f32>(0.0);
  for (var o = 0u; o < p.OP; o++) {
    let og = p.O0 + o;
    let gi = og * p.NG + g;
    let w = scale[gi] * vq4(o * p.WPR, p.IW, k0) + offset[gi];
    a0 += dY[d0 + og] * w;
    a1 += dY[d1 + og] * w;
    a2 += dY[d2 + og] * w;
    a3 += dY[d3 + og] * w;
    a4 += dY[d4 + og] * w;
    a5 += dY[d5 + og] * w;
    a6 += dY[d6 + og] * w;
    a7 += dY[d7 + og] * w;
  }
  var acc = array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7);
  if (p.R > 0u) {
    for (var j = 0u; j < 8u; j++) {
      let t = min(t0 + j, tl);
      var lo = vec4<f32>(0.0);
      for (var r = 0u; r < p.R; r++) {
        let ar = r * p.I + k0;
        lo += U[t * p.R + r] * vec4<f32>(A[ar], A[ar + 1u], A[ar + 2u], A[ar + 3u]);
      }
      acc[j] += p.lora_scale * lo;
    }
  }
  for (var j = 0u; j < 8u; j++) {
    let t = t0 + j;
    if (t >= p.T) { break; }
    for (var i = 0u; i < 4u; i++) {
      let idx = t * p.I + k0 + i;
      var v = acc[j][i];
      if (p.beta != 0.0) { v += p.beta * dX[idx]; }
      dX[idx] = v;
    }
  }
}
