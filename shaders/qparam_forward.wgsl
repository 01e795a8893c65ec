// qparam_forward: effective per-group scale and offset from trainable θ,
//   scale[g] = a[g]·θ[ps[g]],  offset[g] = b[g]·θ[pm[g]]
// (PEQA scale, scale+offset, or K-quant super-block d/dmin; src/quant/parametrize.ts).
// Bindings: 0 uniform {G}; 1 theta f32; 2 a f32[G]; 3 ps u32[G]; 4 b f32[G];
//           5 pm u32[G]; 6 scale f32[G] (written); 7 offset f32[G] (written).
// Threads:  one invocation per group g (2-D grid folded: g = y·65535·64 + x).
// Why:      run once per optimizer step, before the forward pass; the qlinear
//           kernels then read plain scale/offset buffers whatever the method.
struct Params { G: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> ps: array<u32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<storage, read> pm: array<u32>;
@group(0) @binding(6) var<storage, read_write> scale: array<f32>;
@group(0) @binding(7) var<storage, read_write> offset: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let g = gid.y * 65535u * 64u + gid.x;
  if (g >= p.G) { return; }
  scale[g] = a[g] * theta[ps[g]];
  offset[g] = b[g] * theta[pm[g]];
}
