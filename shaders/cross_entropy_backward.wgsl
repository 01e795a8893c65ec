// cross_entropy_backward: the gradient of the mean masked cross-entropy with
// respect to the logits, written over the logits in place (row r of the chunk
// is token n = row0 + r):
//   dz[r,v] = (exp(z[r,v] − lse_n) − [v = target_n]) · gradScale   if row n counts
//   dz[r,v] = 0                          if mask_n = 0, target_n ≥ V, or r ≥ rows
// gradScale = 1 / (number of counted tokens in the whole batch) × upstream
// gradient. Rows r ≥ rows are the unused tail of the last chunk's buffer: they
// are zeroed so the LM-head weight gradient dzᵀ·h gets nothing from them.
// Bindings: 0 uniform Params (as cross_entropy_forward); 1 Z f32[R*V] (read,
//           overwritten with dz); 2 TARGET u32[N]; 3 MASK u32[N]; 4 LSE f32[N]
//           (from cross_entropy_forward).
// Threads:  one invocation per logit: x → v (256 per workgroup), y → r over all
//           R rows of the buffer.
// Why:      purely elementwise once lse is known; in place, so the chunk never
//           needs a second [R, V] buffer.
struct Params { rows: u32, V: u32, row0: u32, NS: u32, gradScale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> Z: array<f32>;
@group(0) @binding(2) var<storage, read> TARGET: array<u32>;
@group(0) @binding(3) var<storage, read> MASK: array<u32>;
@group(0) @binding(4) var<storage, read> LSE: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let v = gid.x;
  let r = gid.y;
  if (v >= p.V) { return; }
  let i = r * p.V + v;
  if (r >= p.rows) {
    Z[i] = 0.0;
    return;
  }
  let n = p.row0 + r;
  let t = TARGET[n];
  if (MASK[n] == 0u || t >= p.V) {
    Z[i] = 0.0;
    return;
  }
  Z[i] = (exp(Z[i] - LSE[n]) - select(0.0, 1.0, v == t)) * p.gradScale;
}
