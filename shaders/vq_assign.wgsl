// vq_assign: the nearest table entry of every vector, under per-element weights
// (the assignment step of the learned-codebook k-means, src/quant/vq/kmeans.ts):
//   Out[v] = argmin_e Σ_j W[v mod P, j] · (X[v, j] − T[e, j])²,   v = base + the vector's index in the dispatch
// computed as the distance "matmul"  Σ_j c_j · (w_j·c_j − 2·w_j·x_j)  = ‖c‖²_w − 2⟨x, c⟩_w,
// which drops the per-vector constant ‖x‖²_w (it does not move the argmin).
// Ties (equal f32 distances) go to the lower entry, as in the reference.
// Bindings: 0 uniform {N, C, P, base}; 1 X f32[N·D] (the vectors); 2 T f32[C·D]
//           (the table); 3 W f32[P·D] (element weights per position in a
//           matrix row); 4 Out u32[N]. X and Out may hold one chunk of a
//           matrix's vectors: positions (v mod P) count from the chunk's start,
//           so a chunk starts at a multiple of P (src/gpu/kernels/vq_assign.ts).
// Threads:  64 invocations per workgroup, R = 4 vectors each (64 apart, so
//           adjacent invocations read adjacent vectors): 256 vectors per
//           workgroup, grid ⌈n / 256⌉ in x (the wrapper splits n over
//           dispatches within the device's workgroup-count limit, moving
//           `base`). Each invocation keeps its vectors and weights as two vec4
//           each (zero-padded past D, D ∈ {2, 4, 8} an override constant),
//           folded into b = −2·w·x. The table streams through workgroup memory
//           in tiles of 256 entries (each entry two zero-padded vec4, 8 KiB),
//           loaded cooperatively, 4 entries per invocation; every invocation
//           then scans the tile: per entry and vector one fma and one dot per
//           vec4 (D = 8: two), the argmin kept in registers. With one weight
//           row (P = 1: no importance) the loader also stores ‖c‖²_w per entry
//           (workgroup array `nrm`), and the scan is n_e + one dot per vec4.
// Why:      the search is N·C·D multiply-adds against a table that every vector
//           reads whole: staging a tile once per workgroup turns 256 global
//           reads of each entry into one, and R vectors per invocation reuse
//           each workgroup-memory read R times (a matmul's register tile along
//           one side). An invocation owning its vectors needs no
//           cross-invocation reduction, and the loop bounds are uniform, so the barriers are
//           legal whatever N is. ‖c‖²_w is precomputed only for P = 1: with
//           per-column importance it differs per position in the row (P·C
//           norms), so there the scan computes it inline.
struct Params { N: u32, C: u32, P: u32, base: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> T: array<f32>;
@group(0) @binding(3) var<storage, read> W: array<f32>;
@group(0) @binding(4) var<storage, read_write> Out: array<u32>;

override D: u32 = 8u;
const WG: u32 = 64u;
const TILE: u32 = 256u;
const R: u32 = 4u; // vectors per invocation
var<workgroup> tile: array<vec4<f32>, 512>; // TILE · 2
var<workgroup> nrm: array<f32, 256>; // TILE: ‖c‖²_w of each entry when every vector has the same weights (P = 1)

fn load8(src: u32, which: u32) -> array<vec4<f32>, 2> {
  // which: 0 = X, 1 = T, 2 = W; src = first element.
  var v: array<f32, 8>;
  for (var j = 0u; j < 8u; j = j + 1u) {
    var a = 0.0;
    if (j < D) {
      if (which == 0u) { a = X[src + j]; } else if (which == 1u) { a = T[src + j]; } else { a = W[src + j]; }
    }
    v[j] = a;
  }
  return array<vec4<f32>, 2>(vec4<f32>(v[0], v[1], v[2], v[3]), vec4<f32>(v[4], v[5], v[6], v[7]));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  // R vectors per invocation, WG apart: v_r = base + wid.x·WG·R + r·WG + lid.x.
  var wa: array<vec4<f32>, R>;
  var wb: array<vec4<f32>, R>;
  var ba: array<vec4<f32>, R>;
  var bb: array<vec4<f32>, R>;
  var best: array<f32, R>;
  var bi: array<u32, R>;
  for (var r = 0u; r < R; r = r + 1u) {
    let v = p.base + wid.x * WG * R + r * WG + lid.x;
    ba[r] = vec4<f32>(0.0);
    bb[r] = vec4<f32>(0.0);
    // Weights for every invocation, live or not: with P = 1 they also weight the tile's norms.
    let w = load8((v % p.P) * D, 2u);
    wa[r] = w[0];
    wb[r] = w[1];
    if (v < p.N) {
      let x = load8(v * D, 0u);
      ba[r] = -2.0 * w[0] * x[0];
      bb[r] = -2.0 * w[1] * x[1];
    }
    best[r] = bitcast<f32>(0x7f7fffffu); // the largest f32
    bi[r] = 0u;
  }
  for (var t0 = 0u; t0 < p.C; t0 = t0 + TILE) {
    for (var k = 0u; k < TILE / WG; k = k + 1u) {
      let i = k * WG + lid.x;
      let e = t0 + i;
      if (e < p.C) {
        let c = load8(e * D, 1u);
        tile[2u * i] = c[0];
        tile[2u * i + 1u] = c[1];
        if (p.P == 1u) {
          nrm[i] = dot(c[0] * c[0], wa[0]) + dot(c[1] * c[1], wb[0]);
        }
      }
    }
    workgroupBarrier();
    let m = min(TILE, p.C - t0);
    if (p.P == 1u) {
      // One weight row: ‖c‖²_w once per entry, then one dot per vec4 and vector.
      for (var i = 0u; i < m; i = i + 1u) {
        let c0 = tile[2u * i];
        let c1 = tile[2u * i + 1u];
        let n = nrm[i];
        for (var r = 0u; r < R; r = r + 1u) {
          var s = n + dot(c0, ba[r]);
          if (D > 4u) {
            s = s + dot(c1, bb[r]);
          }
          if (s < best[r]) {
            best[r] = s;
            bi[r] = t0 + i;
          }
        }
      }
      workgroupBarrier();
      continue;
    }
    for (var i = 0u; i < m; i = i + 1u) {
      let c0 = tile[2u * i];
      let c1 = tile[2u * i + 1u];
      for (var r = 0u; r < R; r = r + 1u) {
        var s = dot(c0, fma(c0, wa[r], ba[r]));
        if (D > 4u) {
          s = s + dot(c1, fma(c1, wb[r], bb[r]));
        }
        if (s < best[r]) {
          best[r] = s;
          bi[r] = t0 + i;
        }
      }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < R; r = r + 1u) {
    let v = p.base + wid.x * WG * R + r * WG + lid.x;
    if (v < p.N) {
      Out[v] = bi[r];
    }
  }
}
