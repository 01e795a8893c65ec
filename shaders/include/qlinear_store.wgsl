// Included by qlinear_forward and qlinear_forward_f16 (`// #include qlinear_store`):
// the epilogue of an 8(t) × 4(o) tile. The including shader declares p (Params),
// XA, B and Y as qlinear_forward.wgsl does.

// Y[t0+j, O0+o0+i] = acc[j][i] + lora_scale · Σ_r XA[t,r]·B[og[i],r] for the
// tokens < T and rows < OP of the tile (og: the tile's rows of W, clamped).
fn store_tile(acc: array<vec4<f32>, 8>, t0: u32, o0: u32, og: vec4<u32>) {
  var a = acc;
  for (var j = 0u; j < 8u; j++) {
    let t = t0 + j;
    if (t >= p.T) { break; }
    var v = a[j];
    if (p.R > 0u) {
      var lo = vec4<f32>(0.0);
      for (var r = 0u; r < p.R; r++) {
        lo += XA[t * p.R + r] * vec4<f32>(B[og.x * p.R + r], B[og.y * p.R + r], B[og.z * p.R + r], B[og.w * p.R + r]);
      }
      v += p.lora_scale * lo;
    }
    for (var i = 0u; i < 4u; i++) {
      if (o0 + i < p.OP) { Y[t * p.O + p.O0 + o0 + i] = v[i]; }
    }
  }
}
