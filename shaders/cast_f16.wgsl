// cast_f16: Y = f16(X), rounding to nearest even; values past f16's range
// become ±inf (what f32 → f16 conversion does on GPUs; WGSL leaves it to the
// implementation, so callers must not rely on it).
// Requires the `shader-f16` feature.
// Bindings: 0 uniform {n4}: vec4 count; 1 X vec4<f32>[n4]; 2 Y vec4<f16>[n4]
//           (written; a u32 buffer of 2·n4 words on the host side).
// Threads:  one vec4 per invocation over a 1-D grid folded into 2-D.
// Why:      the f16 kernels (qlinear_forward_f16.wgsl) read their activations
//           many times (once per 64 output rows); converting once here halves
//           those reads and takes the conversion out of their inner loops.
enable f16;

struct Params { n4: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> Y: array<vec4<f16>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n4) { return; }
  Y[i] = vec4<f16>(X[i]);
}
