// add: residual addition over n f32 values, in two entry points:
//   main        Y = A + B
//   accumulate  Y += B   (in place: WebGPU forbids binding one buffer as both
//                         read-only and writable storage in a dispatch, so the
//                         in-place form has its own entry point without A)
// Bindings: 0 uniform {n}; 1 B f32[n]; 2 Y f32[n] (written / updated);
//           3 A f32[n] (main only; accumulate's layout stops at binding 2).
// Threads:  one value per invocation over a 1-D grid folded into 2-D when it
//           needs more than 65535 workgroups (i = x + y · groups_x · WG).
// Why:      memory-bound; one load per operand and one store is all it can do.
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<storage, read> A: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  Y[i] = A[i] + B[i];
}

@compute @workgroup_size(WG)
fn accumulate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  Y[i] = Y[i] + B[i];
}
