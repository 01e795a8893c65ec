// matmul_tiled: Y[T,O] = X[T,I] · W[O,I]ᵀ with workgroup-memory tiles.
// Bindings: 0 uniform {T, I, O}; 1 X f32[T*I]; 2 W f32[O*I]; 3 Y f32[T*O] (written).
// Threads:  a 16×16 workgroup owns a 64(t) × 64(o) output tile; each invocation
//           computes a 4×4 sub-tile from a 64×16 slab of X and of W staged in
//           workgroup memory per step of 16 along I (two barriers per step).
// Why:      the classic design for real GPUs, where workgroup memory is fast and
//           barriers are cheap; each global value is loaded once per workgroup
//           instead of once per invocation. Slower than matmul_blocked on
//           SwiftShader (barriers are costly there), so it is chosen only for
//           hardware adapters (src/gpu/kernels/matmul.ts).
struct Params { T: u32, I: u32, O: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

const TS: u32 = 64u;  // output tile edge
const KS: u32 = 16u;  // step along I
var<workgroup> xs: array<array<f32, 17>, 64>; // [t][k], +1 column against bank conflicts
var<workgroup> ws: array<array<f32, 17>, 64>; // [o][k]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tBase = wid.y * TS;
  let oBase = wid.x * TS;
  let li = lid.y * 16u + lid.x; // 0..255
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < p.I; k0 += KS) {
    // 256 invocations load 64×16 values of each operand: 4 each.
    for (var j = 0u; j < 4u; j++) {
      let e = li + j * 256u;
      let r = e / KS;
      let k = e % KS;
      let t = tBase + r;
      let o = oBase + r;
      let kk = k0 + k;
      xs[r][k] = select(0.0, X[t * p.I + kk], t < p.T && kk < p.I);
      ws[r][k] = select(0.0, W[o * p.I + kk], o < p.O && kk < p.I);
    }
    workgroupBarrier();
    for (var k = 0u; k < KS; k++) {
      var xv: array<f32, 4>;
      var wv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        xv[i] = xs[lid.y * 4u + i][k];
        wv[i] = ws[lid.x * 4u + i][k];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] += xv[i] * wv[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let t = tBase + lid.y * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let o = oBase + lid.x * 4u + j;
      if (t < p.T && o < p.O) { Y[t * p.O + o] = acc[i][j]; }
    }
  }
}
