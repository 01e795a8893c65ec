// adamw_step: one AdamW update (Loshchilov & Hutter, decoupled weight decay) of
// one parameter tensor P[n] from its gradient G[n], with moments M, V:
//   g = clip · G[i]                       (global-norm clip factor, ≤ 1)
//   m = β1·m + (1 − β1)·g,  v = β2·v + (1 − β2)·g²
//   P ← P − (lr·wd·P + α · m / (√v · rbc2 + eps)),
//   α = lr / (1 − β1^t), rbc2 = 1 / √(1 − β2^t)
// (the same arithmetic as torch.optim.AdamW: √v̂ = √v / √bc2, eps added after).
// Bindings: 0 uniform Params (all step-dependent values, so one pipeline serves
//           every step and tensor); 1 G f32[n]; 2 P f32[n]; 3 M f32[n];
//           4 V f32[n] (P, M, V updated in place).
// Threads:  one value per invocation, 1-D grid folded into 2-D past 65535
//           workgroups (i = x + y·groups_x·WG).
// Why:      bias corrections, lr·wd and 1 − β are formed on the CPU in f64 and
//           rounded once (src/gpu/kernels/adamw.ts). Decay and the Adam step
//           are summed before touching P, so P is rounded once per step. The
//           gradient is never rewritten: clipping costs no extra pass.
struct Params {
  n: u32, clip: f32, beta1: f32, omb1: f32, beta2: f32,
  omb2: f32, eps: f32, rbc2: f32, alpha: f32, lrwd: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> P: array<f32>;
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> V: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let g = p.clip * G[i];
  let m = p.beta1 * M[i] + p.omb1 * g;
  let v = p.beta2 * V[i] + p.omb2 * (g * g);
  M[i] = m;
  V[i] = v;
  let x = P[i];
  P[i] = x - (p.lrwd * x + p.alpha * m / (sqrt(v) * p.rbc2 + p.eps));
}
