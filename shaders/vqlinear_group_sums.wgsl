// vqlinear_group_sums: SX[t,g] = Σ_{k in group g} X[t,k], written at element
// `p.T·p.R` onwards of the output (after X·Aᵀ, which vqlinear_forward reads
// from the same buffer; see its header).
// Bindings: 0 uniform Params (T, I, G, NG, R used); 1 X f32[T*I]; 2 XA f32[T*R + T*NG]
//           (the SX part written).
// Threads:  one invocation per (token t, group g), folded 2-D grid.
// Why:      the offsets enter the forward as offset·Σx per group, so Σx is
//           computed once here (O(T·I)) instead of once per output row.
struct Params { T: u32, I: u32, O: u32, G: u32, WPR: u32, NG: u32, R: u32, O0: u32, OP: u32, lora_scale: f32, beta: f32, IW: u32, TMAX: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> XA: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.T * p.NG) { return; }
  let t = i / p.NG;
  let g = i % p.NG;
  let row = t * p.I;
  let k1 = min(p.I, (g + 1u) * p.G);
  var s = 0.0;
  for (var k = g * p.G; k < k1; k++) { s += X[row + k]; }
  XA[p.T * p.R + i] = s;
}
