// swiglu_backward: gradients of H = silu(G) ⊙ U (swiglu_forward) from dH:
//   dU = dH · silu(G) = dH · G·σ(G)
//   dG = dH · U · silu'(G),  silu'(g) = σ(g)·(1 + g·(1 − σ(g)))
// Bindings: 0 uniform {n}; 1 dH f32[n]; 2 G f32[n]; 3 U f32[n];
//           4 dG f32[n], 5 dU f32[n] (written).
// Threads:  one value per invocation, 1-D grid folded as in swiglu_forward.
// Why:      G and U are read back rather than silu(G) saved by the forward
//           pass: the recompute is a few ALU ops, the saved tensor would cost
//           N·F floats per layer. σ and 1 − σ both come from e = exp(−|g|)
//           without a subtraction, so 1 − σ keeps full relative precision for
//           large positive g and nothing overflows (see swiglu_forward).
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dH: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read> U: array<f32>;
@group(0) @binding(4) var<storage, read_write> dG: array<f32>;
@group(0) @binding(5) var<storage, read_write> dU: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let g = G[i];
  let d = dH[i];
  let e = exp(-abs(g));
  let big = 1.0 / (1.0 + e); // σ(|g|)
  let small = e * big; // 1 − σ(|g|)
  let sig = select(small, big, g >= 0.0);
  let one_minus = select(big, small, g >= 0.0);
  dU[i] = d * g * sig;
  dG[i] = d * U[i] * sig * (1.0 + g * one_minus);
}
