// sumsq_columns: Acc[i] += Σ_t X[t, i]² for X [T, I] row-major, Acc f32 [I]
// (llama.cpp's importance matrix: Σ x² per input column of a linear layer over
// every token row, src/model/imatrix.ts).
// Bindings: 0 uniform {T, I}; 1 X f32[T·I]; 2 Acc f32[I] (read_write, added to).
// Threads:  workgroups of WX × WY = 64 × 4; workgroup g owns columns
//           g·64 .. g·64 + 63 (one-dimensional grid of ⌈I / 64⌉). Invocation
//           (x, y) sums rows y, y + 4, y + 8, … of column g·64 + x; adjacent x
//           read adjacent columns of one row (coalesced). The four partial sums
//           of a column meet in workgroup memory and invocation y = 0 adds them
//           to Acc in a fixed order.
// Why:      one writer per column needs no f32 atomics (WGSL has none) and the
//           result is bit-reproducible; four row slices keep 256 invocations per
//           workgroup busy when I is small (a 64-wide model) and T is the long
//           side. The accumulator stays f32, as llama.cpp's does; each call adds
//           one forward's sum, so the error grows with the number of calls, not
//           with T·(number of calls).
struct Params { T: u32, I: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Acc: array<f32>;

const WX: u32 = 64u;
const WY: u32 = 4u;
var<workgroup> part: array<f32, 256>; // WX · WY

@compute @workgroup_size(64, 4)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let col = wid.x * WX + lid.x;
  var s = 0.0;
  if (col < p.I) {
    for (var r = lid.y; r < p.T; r = r + WY) {
      let x = X[r * p.I + col];
      s = s + x * x;
    }
  }
  part[lid.y * WX + lid.x] = s;
  workgroupBarrier();
  if (lid.y == 0u && col < p.I) {
    var t = part[lid.x];
    for (var k = 1u; k < WY; k = k + 1u) {
      t = t + part[k * WX + lid.x];
    }
    Acc[col] = Acc[col] + t;
  }
}
