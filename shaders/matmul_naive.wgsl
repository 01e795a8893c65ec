// matmul_naive: Y[T,O] = X[T,I] · W[O,I]ᵀ  (the layout of every linear layer).
// Bindings: 0 uniform {T, I, O}; 1 X f32[T*I] row-major; 2 W f32[O*I] row-major;
//           3 Y f32[T*O] row-major (written).
// Threads:  one invocation per output element, global id x → o, y → t.
// Why:      the simplest correct kernel; the baseline the others are benchmarked
//           against and the fallback for any shape.
struct Params { T: u32, I: u32, O: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

override WG_X: u32 = 16u;
override WG_Y: u32 = 4u;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x;
  let t = gid.y;
  if (o >= p.O || t >= p.T) { return; }
  var acc = 0.0;
  let xr = t * p.I;
  let wr = o * p.I;
  for (var k = 0u; k < p.I; k++) {
    acc += X[xr + k] * W[wr + k];
  }
  Y[t * p.O + o] = acc;
}
