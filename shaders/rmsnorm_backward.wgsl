// rmsnorm_backward: gradients of Y = X · rstd ⊙ W (rmsnorm_forward) from dY,
// with the rstd[N] the forward pass saved. Entry points:
//   dx_main, dx_row  dX[n,j] = r·W[j]·dY[n,j] − (r³/C)·X[n,j]·Σ_k dY[n,k]·W[k]·X[n,k],
//                    r = rstd[n] (written, or dX += … when beta = 1: residual stream)
//   dw_partial       P[b,j] = Σ_{n in chunk b} dY[n,j]·X[n,j]·r_n, chunks of RPC rows
//   dw_reduce        dW[j] = Σ_b P[b,j]  (+ beta·dW[j]: accumulation over micro-batches)
// Bindings: 0 uniform Params; 1 dY f32[N*C]; 2 X f32[N*C]; 3 W f32[C];
//           4 rstd f32[N]; 5 OUT (dx_*: dX f32[N*C]; dw_partial: P f32[NB*C];
//           dw_reduce: dW f32[C]); 6 P f32[NB*C] (read by dw_reduce only).
// Threads:  dx_main: one workgroup per row, dx_row: one row per invocation; the
//           same split and reasons as rmsnorm_forward's main / row_main.
//           dw_partial: one invocation per (column, chunk), x → column
//           (coalesced), y → chunk. dw_reduce: one invocation per column.
// Why:      dW sums over all rows. A two-stage reduction needs no atomics (WGSL
//           has no f32 atomics), gives NB·C-way parallelism instead of C, and
//           keeps each f32 sum short (RPC terms, then NB partials).
//           When the result is small against r·W·dY (a row nearly parallel to
//           X, or C = 1), dX is a difference of close f32 values: its error is
//           ~1e-7 of r·|W·dY|, not of |dX|. That is the formula's conditioning.
struct Params { N: u32, C: u32, RPC: u32, NB: u32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dY: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> W: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(6) var<storage, read> P: array<f32>;

const WG: u32 = 64u;
var<workgroup> part: array<f32, WG>;

// dX of one row from its Σ dY·W·X.
fn write_dx(row: u32, c: u32, s: f32) {
  let i = row * p.C + c;
  let r = rstd[row];
  var v = r * W[c] * dY[i] - (r * r * r * s / f32(p.C)) * X[i];
  if (p.beta != 0.0) { v += p.beta * OUT[i]; } // not read when overwriting: OUT may hold NaN
  OUT[i] = v;
}

@compute @workgroup_size(WG)
fn dx_main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; } // uniform across the workgroup
  let base = row * p.C;
  var s = 0.0;
  for (var c = l; c < p.C; c += WG) {
    s += dY[base + c] * W[c] * X[base + c];
  }
  part[l] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (l < h) { part[l] += part[l + h]; }
    workgroupBarrier();
  }
  let total = part[0];
  for (var c = l; c < p.C; c += WG) { write_dx(row, c, total); }
}

@compute @workgroup_size(WG)
fn dx_row(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= p.N) { return; }
  let base = row * p.C;
  var s = 0.0;
  for (var c0 = 0u; c0 < p.C; c0 += 64u) {
    var blk = 0.0;
    let c1 = min(p.C, c0 + 64u);
    for (var c = c0; c < c1; c++) { blk += dY[base + c] * W[c] * X[base + c]; }
    s += blk;
  }
  for (var c = 0u; c < p.C; c++) { write_dx(row, c, s); }
}

@compute @workgroup_size(64)
fn dw_partial(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  let b = gid.y;
  if (j >= p.C || b >= p.NB) { return; }
  let n0 = b * p.RPC;
  let n1 = min(p.N, n0 + p.RPC);
  var s = 0.0;
  for (var n = n0; n < n1; n++) {
    let i = n * p.C + j;
    s += dY[i] * X[i] * rstd[n];
  }
  OUT[b * p.C + j] = s;
}

@compute @workgroup_size(64)
fn dw_reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= p.C) { return; }
  var s = 0.0;
  for (var b = 0u; b < p.NB; b++) {
    s += P[b * p.C + j];
  }
  if (p.beta != 0.0) { s += p.beta * OUT[j]; }
  OUT[j] = s;
}
