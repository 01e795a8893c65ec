// vqlinear_backward_quant: gradients of the per-group scale and offset of a
// codebook tensor,
//   dscale[o,g]  = Σ_{k∈g} σ[o,k]·table(o,k) · C[o,k],  doffset[o,g] = Σ_{k∈g} C[o,k],
//   C[o,k] = Σ_t dY[t,o]·X[t,k]
// (from y = Σ_g s_g·Σ_{k∈g} x_k v_k + m_g·Σ_{k∈g} x_k). Indices, signs and the
// table get no gradient here. Requires I % 4 == 0.
// Bindings: 0 uniform Params; 1 X f32[T*I]; 2 dY f32[T*O]; 3 codes u32[OP*WPR]
//           (VqTensor rows, src/gpu/vq_gpu.ts); 4 dscale f32[O*NG]; 5 doffset
//           f32[O*NG] (written, or accumulated when beta = 1); 6 table vec4<f32>[⌈size*VD/4⌉].
// Threads:  as qlinear_backward_quant: one invocation per (4 rows o0..o0+3,
//           group g), id = (o0/4)·NG + g over a folded 1-D grid; it walks the
//           group in quads of columns, forming C for 4 rows × 4 columns over all t
//           in registers, then weights it by the decoded values.
// Parts:    one dispatch per part of the codes, rows O0..O0+OP of W.
// Why:      C is recomputed rather than saved from the forward (see
//           qlinear_backward_quant.wgsl): one T·I·O pass, no atomics, no barriers.
struct Params { T: u32, I: u32, O: u32, G: u32, WPR: u32, NG: u32, R: u32, O0: u32, OP: u32, lora_scale: f32, beta: f32, IW: u32, TMAX: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dY: array<f32>;
@group(0) @binding(3) var<storage, read> codes: array<u32>;
@group(0) @binding(4) var<storage, read_write> dscale: array<f32>;
@group(0) @binding(5) var<storage, read_write> doffset: array<f32>;
@group(0) @binding(6) var<storage, read> table: array<vec4<f32>>;

// #include vqcode

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let id = gid.y * 65535u * 64u + gid.x;
  let g = id % p.NG;
  let o0 = (id / p.NG) * 4u;
  if (o0 >= p.OP) { return; }
  let ol = p.OP - 1u;
  let oc = vec4<u32>(o0, min(o0 + 1u, ol), min(o0 + 2u, ol), min(o0 + 3u, ol));
  let og = oc + vec4<u32>(p.O0);
  let I4 = p.I / 4u;
  let kEnd = min(p.I, (g + 1u) * p.G);
  var ds = vec4<f32>(0.0); // lanes = rows
  var dm = vec4<f32>(0.0);
  for (var k = g * p.G; k < kEnd; k += 4u) {
    var c0 = vec4<f32>(0.0); // row o0, lanes = columns
    var c1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    for (var t = 0u; t < p.T; t++) {
      let xv = X[t * I4 + k / 4u];
      let dr = t * p.O;
      c0 += dY[dr + og.x] * xv;
      c1 += dY[dr + og.y] * xv;
      c2 += dY[dr + og.z] * xv;
      c3 += dY[dr + og.w] * xv;
    }
    let one = vec4<f32>(1.0);
    ds += vec4<f32>(dot(vq4(oc.x * p.WPR, p.IW, k), c0), dot(vq4(oc.y * p.WPR, p.IW, k), c1), dot(vq4(oc.z * p.WPR, p.IW, k), c2), dot(vq4(oc.w * p.WPR, p.IW, k), c3));
    dm += vec4<f32>(dot(c0, one), dot(c1, one), dot(c2, one), dot(c3, one));
  }
  for (var i = 0u; i < 4u; i++) {
    let o = o0 + i;
    if (o < p.OP) {
      let gi = (p.O0 + o) * p.NG + g;
      var a = ds[i];
      var b = dm[i];
      if (p.beta != 0.0) {
        a += p.beta * dscale[gi];
        b += p.beta * doffset[gi];
      }
      dscale[gi] = a;
      doffset[gi] = b;
    }
  }
}
