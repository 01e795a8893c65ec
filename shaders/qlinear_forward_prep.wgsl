// qlinear_forward_prep: the two inputs qlinear_forward reads instead of X.
//   XP[t,k] = X[t,k] · 2^(−B·(k mod 4))     (lane-prescaled copy of X; B = code bits)
//   SX[t,g] = Σ_{k in group g} X[t,k]        (per-group sums, for the offsets)
// Bindings: 0 uniform Params (T, I, G, NG used); 1 X f32[T*I]; 2 XP f32[T*I]
//           (written); 3 SX f32[T*NG] (written).
// Threads:  one invocation per (token t, group g), folded 2-D grid: it walks
//           its group once, writing XP and summing SX.
// Why:      qlinear_forward decodes 4 codes of a row with a single AND against
//           per-lane masks, which leaves code j of the vec4 multiplied by
//           2^(B·j); prescaling X by the inverse power of two (exact in f32)
//           cancels it inside the dot product. The offsets enter as
//           offset·Σx per group, so their Σx is computed once here instead of
//           once per output row. Both cost O(T·I), against O(T·I·O) saved.
struct Params { T: u32, I: u32, O: u32, G: u32, WPR: u32, NG: u32, R: u32, O0: u32, OP: u32, lora_scale: f32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> XP: array<f32>;
@group(0) @binding(3) var<storage, read_write> SX: array<f32>;

override QB: u32 = 4u; // code bits

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.T * p.NG) { return; }
  let t = i / p.NG;
  let g = i % p.NG;
  let row = t * p.I;
  let k0 = g * p.G;
  let k1 = min(p.I, k0 + p.G);
  var s = 0.0;
  for (var k = k0; k < k1; k++) {
    let v = X[row + k];
    s += v;
    XP[row + k] = ldexp(v, -i32(QB * (k & 3u)));
  }
  SX[i] = s;
}
