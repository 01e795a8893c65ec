// CPU reference for AdamW (the oracle for adamw_step.wgsl and src/train/optimizer.ts),
// in f64, written from the paper's algorithm (Loshchilov & Hutter 2019, Alg. 2
// with η = lr, as torch.optim.AdamW):
//   g = c·grad, c = min(1, maxNorm / (‖grad‖ + 1e-6)) over all tensors of the step
//   m ← β1 m + (1 − β1) g,  v ← β2 v + (1 − β2) g²
//   m̂ = m / (1 − β1^t),  v̂ = v / (1 − β2^t)
//   θ ← θ − lr·wd·θ − lr · m̂ / (√v̂ + eps)

export interface AdamwRefState {
  param: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

export interface AdamwRefHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export function adamwRefState(param: ArrayLike<number>): AdamwRefState {
  const n = param.length;
  return { param: Float64Array.from(param), m: new Float64Array(n), v: new Float64Array(n) };
}

/** Global-norm clip factor of gradients whose norm is `norm`. */
export function clipFactorRef(norm: number, maxNorm: number): number {
  return Math.min(1, maxNorm / (norm + 1e-6));
}

/** One AdamW update of `s` (in place) at step count t (≥ 1), gradient scaled by `clip`. */
export function adamwStepRef(s: AdamwRefState, grad: ArrayLike<number>, h: AdamwRefHyper, t: number, clip = 1): void {
  if (grad.length !== s.param.length) throw new RangeError(`adamwStepRef: ${grad.length} gradient values for ${s.param.length} parameters`);
  const bc1 = 1 - h.beta1 ** t;
  const bc2 = 1 - h.beta2 ** t;
  for (let i = 0; i < grad.length; i++) {
    const g = clip * grad[i];
    s.m[i] = h.beta1 * s.m[i] + (1 - h.beta1) * g;
    s.v[i] = h.beta2 * s.v[i] + (1 - h.beta2) * g * g;
    const mhat = s.m[i] / bc1;
    const vhat = s.v[i] / bc2;
    s.param[i] = s.param[i] - h.lr * h.weightDecay * s.param[i] - (h.lr * mhat) / (Math.sqrt(vhat) + h.eps);
  }
}
