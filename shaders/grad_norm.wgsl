// grad_norm: global gradient norm over many tensors, two passes, no atomics.
// Entry points:
//   partial  for one gradient tensor G[n]: partial b (b < NP = ⌈n / CH⌉) sums
//            g² over i = b, b + NP, b + 2·NP, … (< n) and counts the values
//            that are NaN or ±Inf (left out of the sum); it writes the pair at
//            slot off + b of W.
//   reduce   sums the n slot pairs W[0 .. n) in a fixed order and writes the
//            total at slot n: (Σ g² bits, non-finite count).
// W is u32 pairs [2·slot] = bitcast f32 sum, [2·slot + 1] = count, so sums and
// counts share one buffer and the result is 8 contiguous bytes to copy out.
// Bindings: 0 uniform {n, NP, off} (reduce reads n only); 1 W u32[2·(slots+1)]
//           (read_write); 2 G f32[n] (partial only; reduce's layout stops at 1).
// Threads:  partial: one invocation per partial, 1-D grid folded into 2-D past
//           65535 workgroups (b = x + y·groups_x·64); consecutive invocations
//           read consecutive values (coalesced). reduce: one workgroup of 256;
//           invocation l sums slots l, l + 256, …, then a tree in workgroup
//           memory (8 barriers: cheap even on SwiftShader, it runs once).
// Why:      WGSL has no f32 atomics, and a fixed summation order makes the norm,
//           hence the clip factor and every parameter update, bit-reproducible.
//           Non-finite values are found from the exponent bits, not x != x:
//           compilers may assume finite math and fold NaN tests away.
//           Each f32 sum is short (≤ CH terms, then ⌈slots/256⌉, then 8 levels).
struct Params { n: u32, NP: u32, off: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> W: array<u32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;

const CH: u32 = 256u;   // values per partial (grad_norm.ts VALUES_PER_PARTIAL)
const RWG: u32 = 256u;  // invocations of the reduce workgroup
var<workgroup> sums: array<f32, RWG>;
var<workgroup> counts: array<u32, RWG>;

fn is_finite_bits(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(64)
fn partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = gid.x + gid.y * nwg.x * 64u;
  if (b >= p.NP) { return; }
  var s = 0.0;
  var bad = 0u;
  for (var k = 0u; k < CH; k++) {
    let i = b + k * p.NP;
    if (i >= p.n) { break; }
    let g = G[i];
    if (is_finite_bits(g)) { s += g * g; } else { bad += 1u; }
  }
  let slot = p.off + b;
  W[2u * slot] = bitcast<u32>(s);
  W[2u * slot + 1u] = bad;
}

@compute @workgroup_size(RWG)
fn reduce(@builtin(local_invocation_index) l: u32) {
  var s = 0.0;
  var c = 0u;
  for (var b = l; b < p.n; b += RWG) {
    s += bitcast<f32>(W[2u * b]);
    c += W[2u * b + 1u];
  }
  sums[l] = s;
  counts[l] = c;
  workgroupBarrier();
  for (var h = RWG / 2u; h > 0u; h >>= 1u) {
    if (l < h) {
      sums[l] += sums[l + h];
      counts[l] += counts[l + h];
    }
    workgroupBarrier();
  }
  if (l == 0u) {
    W[2u * p.n] = bitcast<u32>(sums[0]);
    W[2u * p.n + 1u] = counts[0];
  }
}
