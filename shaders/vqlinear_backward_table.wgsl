// vqlinear_backward_table: the gradient of a learned codebook's entries with
// the indices frozen (the VQ counterpart of PEQA),
//   dtable[c, j] = Σ_{(o,v): idx[o,v] = c} scale[o, ⌊k/G⌋] · C[o, k],  k = v·VD + j < I,
//   C[o,k] = Σ_t dY[t,o]·X[t,k]   (dW of the layer, summed over the batch)
// (from W[o,k] = scale·table[idx[o,⌊k/VD⌋]][k mod VD] + offset). Unsigned
// tensors only (learned tables have no sign bits; the caller refuses others).
// Bindings: 0 uniform Params; 1 C f32[O*I] (matmul_strided 'tn' of dY and X);
//           2 scale f32[O*NG]; 3 start u32[size+1]; 4 uses u32[n] (the inverted
//           index, below); 5 dtable f32[⌈size*VD/4⌉*4] (entries < size written, or
//           accumulated when beta = 1; the vec4 padding is never touched).
// Inverted index: built once per matrix on the CPU from the frozen codes
//           (src/gpu/kernels/vqtable.ts): the uses of entry c are
//           uses[start[c] .. start[c+1]), each the vector o·(P/VD) + v, P the
//           padded row (vqtensor.ts), so one u32 names row and vector.
// Threads:  one invocation per table entry (folded 1-D grid); it walks its
//           uses, reading VD consecutive floats of C per use, and keeps the VD
//           sums in registers. The work per entry is its use count; k-means
//           keeps the counts even, and the sum over entries is O·I.
// Why:      WGSL has no float atomics, so the scatter "for each weight, add
//           into its entry" must become a gather; with the indices frozen
//           the gather's lists (CSR) never change and cost one upload. C is
//           materialised by the tiled matmul (T·O·I multiply-adds at matmul
//           speed) rather than recomputed per use here (a T-long dot per
//           weight, no reuse of X between rows); it is a scratch shared by
//           layers of one shape, as PEQA's dscale scratch. f32 only: the
//           backward kernels of vqlinear have no f16 path.
struct Params { I: u32, NG: u32, G: u32, SIZE: u32, VPR: u32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> C: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> start: array<u32>;
@group(0) @binding(4) var<storage, read> uses: array<u32>;
@group(0) @binding(5) var<storage, read_write> dtable: array<f32>;

override VD: u32 = 8u; // weights per entry (1, 2, 4, 8)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = gid.x + gid.y * nwg.x * 64u;
  if (c >= p.SIZE) { return; }
  var acc: array<f32, 8>;
  for (var u = start[c]; u < start[c + 1u]; u++) {
    let pos = uses[u];
    let o = pos / p.VPR;
    let k0 = (pos % p.VPR) * VD;
    let row = o * p.I;
    for (var j = 0u; j < VD; j++) {
      let k = k0 + j;
      if (k < p.I) { acc[j] += scale[o * p.NG + k / p.G] * C[row + k]; }
    }
  }
  for (var j = 0u; j < VD; j++) {
    var a = acc[j];
    if (p.beta != 0.0) { a += p.beta * dtable[c * VD + j]; }
    dtable[c * VD + j] = a;
  }
}
