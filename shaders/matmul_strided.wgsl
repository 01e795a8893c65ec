// matmul_strided: Y[T,O] = alpha · Σ_k X(t,k)·W(o,k) + beta · Y[T,O], where
// X(t,k) = X[t·xs_t + k·xs_k] and W(o,k) = W[o·ws_o + k·ws_k].
// Bindings: 0 uniform Params; 1 X f32; 2 W f32; 3 Y f32[T*O] (read and written).
// Threads:  each invocation owns a 4(t) × 4(o) tile of Y: x → o/4, y → t/4.
// Why:      the strides express every transpose a backward pass needs with one
//           kernel: X·Wᵀ (xs=(I,1), ws=(I,1)), X·W (ws=(1,O)), Xᵀ·W (xs=(1,T)).
//           Used for the small products around LoRA (rank R) and for gradients;
//           beta = 1 accumulates into an existing gradient. Scalar loads since a
//           transposed operand is not contiguous along k.
struct Params { T: u32, K: u32, O: u32, xs_t: u32, xs_k: u32, ws_o: u32, ws_k: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o0 = gid.x * 4u;
  let t0 = gid.y * 4u;
  if (o0 >= p.O || t0 >= p.T) { return; }
  var xb: array<u32, 4>;
  var wb: array<u32, 4>;
  for (var i = 0u; i < 4u; i++) {
    xb[i] = min(t0 + i, p.T - 1u) * p.xs_t;
    wb[i] = min(o0 + i, p.O - 1u) * p.ws_o;
  }
  var acc: array<vec4<f32>, 4>;
  for (var k = 0u; k < p.K; k++) {
    let wv = vec4<f32>(W[wb[0] + k * p.ws_k], W[wb[1] + k * p.ws_k], W[wb[2] + k * p.ws_k], W[wb[3] + k * p.ws_k]);
    for (var i = 0u; i < 4u; i++) { acc[i] += X[xb[i] + k * p.xs_k] * wv; }
  }
  for (var i = 0u; i < 4u; i++) {
    let t = t0 + i;
    if (t >= p.T) { break; }
    for (var j = 0u; j < 4u; j++) {
      let o = o0 + j;
      if (o < p.O) {
        let idx = t * p.O + o;
        var v = p.alpha * acc[i][j];
        if (p.beta != 0.0) { v += p.beta * Y[idx]; }
        Y[idx] = v;
      }
    }
  }
}
