// qlinear_backward_quant: gradients of the per-group scale and offset of W,
//   dscale[o,g]  = Σ_{k∈g} q[o,k] · C[o,k],  doffset[o,g] = Σ_{k∈g} C[o,k],
//   C[o,k] = Σ_t dY[t,o]·X[t,k]
// (from y = Σ_g s_g·Σ_{k∈g} x_k q_k + m_g·Σ_{k∈g} x_k). The integer codes get no
// gradient: they are frozen (PEQA, arXiv 2305.14152).
// Bindings: 0 uniform Params; 1 X f32[T*I]; 2 dY f32[T*O]; 3 codes u32[O*WPR] (dense rows, src/gpu/qtensor_gpu.ts);
//           4 dscale f32[O*NG]; 5 doffset f32[O*NG] (written, or accumulated
//           when beta = 1, for gradient accumulation over micro-batches).
// Threads:  one invocation per (4 rows o0..o0+3, group g), numbered
//           id = (o0/4)·NG + g over a 1-D grid folded into 2-D. It
//           walks the group in quads of columns, forming C for 4 rows × 4
//           columns over all t in registers, then weights it by the codes.
// Parts:    the codes may be split by rows into several buffers (large weights,
//           src/gpu/qtensor_gpu.ts); one dispatch per part, whose rows are
//           O0..O0+OP of W; `codes` holds only those rows.
// Why:      C is recomputed here rather than saved from the forward pass. For
//           per-channel scales the issue's alternative, dScale_o =
//           Σ_t dY[t,o]·(X·qᵀ)[t,o] from a saved pre-scale product, would cost a
//           T×O buffer per layer for every group-wise case too (T×O×NG), which
//           training memory cannot afford; recomputing costs one T·I·O pass, the
//           same work as the forward, with no atomics and no barriers.
struct Params { T: u32, I: u32, O: u32, G: u32, WPR: u32, NG: u32, R: u32, O0: u32, OP: u32, lora_scale: f32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> dY: array<f32>;
@group(0) @binding(3) var<storage, read> codes: array<u32>;
@group(0) @binding(4) var<storage, read_write> dscale: array<f32>;
@group(0) @binding(5) var<storage, read_write> doffset: array<f32>;

// #include qcode

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let id = gid.y * 65535u * 64u + gid.x;
  let g = id % p.NG;
  let o0 = (id / p.NG) * 4u;
  if (o0 >= p.OP) { return; }
  let ol = p.OP - 1u;
  let oc = vec4<u32>(o0, min(o0 + 1u, ol), min(o0 + 2u, ol), min(o0 + 3u, ol)); // rows of the part
  let og = oc + vec4<u32>(p.O0); // rows of W (global)
  let kl = p.I - 1u;
  let kEnd = min(p.I, (g + 1u) * p.G);
  var ds = vec4<f32>(0.0); // lanes = rows
  var dm = vec4<f32>(0.0);
  for (var k = g * p.G; k < kEnd; k += 4u) {
    // Columns past I (only in the last quad of a per-channel row) get weight 0.
    let live = vec4<f32>(select(vec4<f32>(0.0), vec4<f32>(1.0), vec4<u32>(k, k + 1u, k + 2u, k + 3u) < vec4<u32>(p.I)));
    var c0 = vec4<f32>(0.0); // row o0, lanes = columns
    var c1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    for (var t = 0u; t < p.T; t++) {
      let xr = t * p.I;
      let xv = vec4<f32>(X[xr + k], X[xr + min(k + 1u, kl)], X[xr + min(k + 2u, kl)], X[xr + min(k + 3u, kl)]) * live;
      let dr = t * p.O;
      c0 += dY[dr + og.x] * xv;
      c1 += dY[dr + og.y] * xv;
      c2 += dY[dr + og.z] * xv;
      c3 += dY[dr + og.w] * xv;
    }
    let one = vec4<f32>(1.0);
    ds += vec4<f32>(dot(qcode4(oc.x * p.WPR, k), c0), dot(qcode4(oc.y * p.WPR, k), c1), dot(qcode4(oc.z * p.WPR, k), c2), dot(qcode4(oc.w * p.WPR, k), c3));
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
