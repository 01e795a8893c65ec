// Included by rope_forward.wgsl and rope_backward.wgsl (`// #include rope`),
// which differ only in the direction of the rotation: the including file
// declares `const SIN_SIGN: f32` (+1 rotates by +θ, −1 by −θ = the transpose).
// Rotates, in place, the pairs (i, i + D/2) of every head of Q [N, H, D] and
// K [N, K, D] (the half-split / rotate_half layout, src/model/names.ts) by
// θ = pos[n] · inv_freq[i]:
//   x'_i = x_i·cos θ − S·x_{i+D/2}·sin θ,   x'_{i+D/2} = x_{i+D/2}·cos θ + S·x_i·sin θ.
// Bindings: 0 uniform {N, H, K, HALF = D/2}; 1 pos u32[N]; 2 freq vec2<u32>[HALF]
//           (inv_freq[i]/2π mod 1 as a 0.64 fixed-point fraction, high word
//           first; src/gpu/kernels/rope.ts ropeTurnTable); 3 Q f32[N*H*D] and
//           4 K f32[N*K*D] (read_write; K unused when K = 0).
// Threads:  one invocation per (row n, pair i), id = n·HALF + i over a 1-D
//           grid folded into 2-D past 65535 workgroups; it computes sin/cos
//           once and rotates that pair in all H + K heads (consecutive i →
//           consecutive addresses).
// Why the angle is exact: θ = pos·inv_freq in f32 is off by up to half an ulp
// of θ, 0.004 rad at pos = 131071 (and WGSL's sin/cos are only specified to
// 2⁻¹¹ absolute on [−π, π]). Here the angle is kept in turns as a 0.32
// fixed-point u32: pos·f mod 1 is computed exactly with wrapping u32 products
// (pos·f_hi + mulhi(pos, f_lo)), so range reduction is free and exact for any
// u32 position; the quadrant comes from the top bits and sin/cos of the
// remainder |r| ≤ π/4 from Taylor polynomials (truncation < 2e-9). Error: ~1e-7
// absolute in sin/cos at every position, independent of the GPU's sin/cos.
struct Params { N: u32, H: u32, K: u32, HALF: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pos: array<u32>;
@group(0) @binding(2) var<storage, read> freq: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> Q: array<f32>;
@group(0) @binding(4) var<storage, read_write> K: array<f32>;

const WG: u32 = 64u;

// High 32 bits of the 64-bit product a·b, from 16-bit halves.
fn mulhi(a: u32, b: u32) -> u32 {
  let al = a & 0xffffu;
  let ah = a >> 16u;
  let bl = b & 0xffffu;
  let bh = b >> 16u;
  let lh = al * bh;
  let hl = ah * bl;
  let mid = ((al * bl) >> 16u) + (lh & 0xffffu) + (hl & 0xffffu); // < 3·2¹⁶: no overflow
  return ah * bh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

// (sin, cos) of t / 2³² turns.
fn sincos_turns(t: u32) -> vec2<f32> {
  let q = (t + 0x20000000u) >> 30u; // nearest quarter turn (wraps past 2³²: q = 0)
  let r = f32(bitcast<i32>(t - (q << 30u))) * 1.4629180792671596e-9; // · 2π/2³², |r| ≤ π/4
  let r2 = r * r;
  let s = r + r * r2 * (-1.6666666666666666e-1 + r2 * (8.333333333333333e-3 + r2 * (-1.984126984126984e-4 + r2 * 2.7557319223985893e-6)));
  let c = 1.0 + r2 * (-0.5 + r2 * (4.1666666666666664e-2 + r2 * (-1.3888888888888889e-3 + r2 * (2.48015873015873e-5 + r2 * -2.755731922398589e-7))));
  switch (q) {
    case 0u: { return vec2<f32>(s, c); }
    case 1u: { return vec2<f32>(c, -s); }
    case 2u: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = gid.x + gid.y * nwg.x * WG;
  if (id >= p.N * p.HALF) { return; }
  let n = id / p.HALF;
  let i = id % p.HALF;
  let f = freq[i];
  let pn = pos[n];
  let sc = sincos_turns(pn * f.x + mulhi(pn, f.y));
  let s = SIN_SIGN * sc.x;
  let c = sc.y;
  let D = 2u * p.HALF;
  for (var h = 0u; h < p.H; h++) {
    let a = (n * p.H + h) * D + i;
    let x1 = Q[a];
    let x2 = Q[a + p.HALF];
    Q[a] = x1 * c - x2 * s;
    Q[a + p.HALF] = x2 * c + x1 * s;
  }
  for (var h = 0u; h < p.K; h++) {
    let a = (n * p.K + h) * D + i;
    let x1 = K[a];
    let x2 = K[a + p.HALF];
    K[a] = x1 * c - x2 * s;
    K[a + p.HALF] = x2 * c + x1 * s;
  }
}
