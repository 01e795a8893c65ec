// fisher_accumulate: F[o, i] += Σ_e ( Σ_{t ∈ e} dY[e·T + t, o] · X[e·T + t, i] )²
// for E examples of T rows each: dY [E·T, O], X [E·T, I] row-major, F f32 [O, I].
// The inner sum is one example's gradient of the loss w.r.t. a linear weight
// W [O, I] (∂L/∂W = dYᵀ·X over that example's token rows); its square, summed
// over examples, is the diagonal empirical Fisher (data-aware LQ-LoRA,
// arXiv 2311.12023 §3.3; src/train/fisher.ts divides by the count).
// Bindings: 0 uniform {E, T, O, I}; 1 dY f32[E·T·O]; 2 X f32[E·T·I];
//           3 F f32[O·I] (read_write, added to).
// Threads:  workgroups of 16 × 16, one output element (o, i) per invocation;
//           workgroup (gx, gy) owns columns gx·16.. of I and rows gy·16.. of O.
//           Per example, tiles of 16 token rows of dY and X are staged in
//           workgroup memory and each invocation accumulates its dot product
//           in f32; at the end of the example it squares and adds it to a
//           private sum, written to F once after the last example.
// Why:      the square must be taken per example, not of the batch's summed
//           gradient, so the reduction over t cannot be merged across examples:
//           the kernel is a tiled dYᵀ·X matmul restarted per example with an
//           elementwise square-accumulate epilogue. One writer per element: no
//           atomics, bit-reproducible. Boundary tiles load zeros.
struct Params { E: u32, T: u32, O: u32, I: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> DY: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> F: array<f32>;

const TS: u32 = 16u;
var<workgroup> tdy: array<f32, 256>; // [t][o] TS × TS
var<workgroup> tx: array<f32, 256>;  // [t][i] TS × TS

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = wid.x * TS + lid.x;
  let o = wid.y * TS + lid.y;
  let o0 = wid.y * TS;
  var fsum = 0.0;
  for (var e = 0u; e < p.E; e = e + 1u) {
    var g = 0.0;
    for (var t0 = 0u; t0 < p.T; t0 = t0 + TS) {
      // Invocation (x, y) loads token row t0 + y: X column i, and dY column o0 + x.
      let row = e * p.T + t0 + lid.y;
      let inRow = t0 + lid.y < p.T;
      var vx = 0.0;
      if (inRow && i < p.I) { vx = X[row * p.I + i]; }
      tx[lid.y * TS + lid.x] = vx;
      var vdy = 0.0;
      if (inRow && o0 + lid.x < p.O) { vdy = DY[row * p.O + o0 + lid.x]; }
      tdy[lid.y * TS + lid.x] = vdy;
      workgroupBarrier();
      for (var k = 0u; k < TS; k = k + 1u) {
        g = g + tdy[k * TS + lid.y] * tx[k * TS + lid.x];
      }
      workgroupBarrier();
    }
    fsum = fsum + g * g;
  }
  if (o < p.O && i < p.I) {
    F[o * p.I + i] = F[o * p.I + i] + fsum;
  }
}
