// dora_backward: DoRA's scale step backward, with the norm N detached (PEFT):
//   DZ[t, o] = DY[t, o] · M[o] / N[o]                (gradient at the unscaled output)
//   DM[o]    = beta·DM[o] + Σ_t DY[t, o] · Z[t, o] / N[o]
// for DY, Z, DZ [T, O] row-major (Z: the unscaled output X·Wᵀ + s·(X·Aᵀ)·Bᵀ).
// Bindings: 0 uniform {T, O, beta}; 1 DY; 2 Z; 3 M f32[O]; 4 N f32[O];
//           5 DZ f32[T·O] (written); 6 DM f32[O] (read_write).
// Threads:  workgroups of 64 × 4; workgroup g owns columns g·64 .. g·64 + 63
//           (grid ⌈O / 64⌉); invocation (x, y) handles rows y, y + 4, … of its
//           column (adjacent x read adjacent columns: coalesced), writes their
//           DZ and sums their DY·Z; the four partial sums meet in workgroup
//           memory and y = 0 writes DM in a fixed order (as sumsq_columns).
// Why:      one writer per column needs no f32 atomics and is reproducible;
//           DZ and DM share the one read of DY.
struct Params { T: u32, O: u32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> DY: array<f32>;
@group(0) @binding(2) var<storage, read> Z: array<f32>;
@group(0) @binding(3) var<storage, read> M: array<f32>;
@group(0) @binding(4) var<storage, read> N: array<f32>;
@group(0) @binding(5) var<storage, read_write> DZ: array<f32>;
@group(0) @binding(6) var<storage, read_write> DM: array<f32>;

const WX: u32 = 64u;
const WY: u32 = 4u;
var<workgroup> part: array<f32, 256>; // WX · WY

@compute @workgroup_size(64, 4)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let col = wid.x * WX + lid.x;
  var s = 0.0;
  if (col < p.O) {
    let inv = 1.0 / N[col];
    let c = M[col] * inv;
    for (var r = lid.y; r < p.T; r = r + WY) {
      let i = r * p.O + col;
      let dy = DY[i];
      DZ[i] = dy * c;
      s = s + dy * Z[i];
    }
    s = s * inv;
  }
  part[lid.y * WX + lid.x] = s;
  workgroupBarrier();
  if (lid.y == 0u && col < p.O) {
    var t = part[lid.x];
    for (var k = 1u; k < WY; k = k + 1u) {
      t = t + part[k * WX + lid.x];
    }
    if (p.beta != 0.0) {
      t = t + DM[col];
    }
    DM[col] = t;
  }
}
