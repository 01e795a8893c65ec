// matmul_blocked: Y[T,O] = X[T,I] · W[O,I]ᵀ, register-blocked, no shared memory.
// Bindings: 0 uniform {T, I, O}; 1 X vec4<f32>[T*I/4]; 2 W vec4<f32>[O*I/4];
//           3 Y f32[T*O] (written). Requires I % 4 == 0 (the wrapper pads rows
//           otherwise, see src/gpu/kernels/matmul.ts).
// Threads:  each invocation owns a 4(t) × 4(o) output tile; global id x → o/4,
//           y → t/4. The inner loop reads 4 vec4 of X and 4 vec4 of W per step
//           of 4 along I and does 16 dot products: 8 loads for 64 FMAs.
// Why:      on CPU emulators (SwiftShader) barriers are very expensive, so
//           register reuse without workgroup memory is the fastest design; on
//           real GPUs it is also a sound kernel for small T (decode).
//           Out-of-range rows/cols are clamped on load and skipped on store, so
//           the loop has no branches.
struct Params { T: u32, I: u32, O: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> W: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o0 = gid.x * 4u;
  let t0 = gid.y * 4u;
  if (o0 >= p.O || t0 >= p.T) { return; }
  let I4 = p.I / 4u;
  let tl = p.T - 1u;
  let ol = p.O - 1u;
  let x0 = min(t0, tl) * I4;
  let x1 = min(t0 + 1u, tl) * I4;
  let x2 = min(t0 + 2u, tl) * I4;
  let x3 = min(t0 + 3u, tl) * I4;
  let w0 = min(o0, ol) * I4;
  let w1 = min(o0 + 1u, ol) * I4;
  let w2 = min(o0 + 2u, ol) * I4;
  let w3 = min(o0 + 3u, ol) * I4;
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  for (var k = 0u; k < I4; k++) {
    let b0 = W[w0 + k];
    let b1 = W[w1 + k];
    let b2 = W[w2 + k];
    let b3 = W[w3 + k];
    let r0 = X[x0 + k];
    let r1 = X[x1 + k];
    let r2 = X[x2 + k];
    let r3 = X[x3 + k];
    a0 += vec4<f32>(dot(r0, b0), dot(r0, b1), dot(r0, b2), dot(r0, b3));
    a1 += vec4<f32>(dot(r1, b0), dot(r1, b1), dot(r1, b2), dot(r1, b3));
    a2 += vec4<f32>(dot(r2, b0), dot(r2, b1), dot(r2, b2), dot(r2, b3));
    a3 += vec4<f32>(dot(r3, b0), dot(r3, b1), dot(r3, b2), dot(r3, b3));
  }
  let rows = array<vec4<f32>, 4>(a0, a1, a2, a3);
  for (var r = 0u; r < 4u; r++) {
    let t = t0 + r;
    if (t >= p.T) { break; }
    for (var c = 0u; c < 4u; c++) {
      if (o0 + c < p.O) { Y[t * p.O + o0 + c] = rows[r][c]; }
    }
  }
}
