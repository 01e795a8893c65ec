// Typed wrapper of adamw_step.wgsl: one AdamW update of one parameter tensor in
// place (param, m, v) from its gradient, the global clip factor applied on the
// fly. Every step-dependent number travels in the uniform struct, formed here
// in f64 and rounded to f32 once:
//   alpha = lr / (1 − β1^t)      bias correction of m folded into the step size
//   rbc2  = 1 / √(1 − β2^t)      bias correction of v, applied to √v as PyTorch does
//   lrwd  = lr · wd              decoupled weight decay
//   omb1, omb2 = 1 − β1, 1 − β2  (in f32, 1 − fround(0.999) would differ from fround(0.001))
import type { GpuContext } from '../device.ts';
import type { GpuTensor } from '../buffers.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count, foldedGrid, type KernelOptions } from './elementwise.ts';

const WG = 256;
const KERNEL: KernelDef = { shader: 'adamw_step', bindings: ['uniform', 'read', 'storage', 'storage', 'storage'], constants: { WG } };
const params = new UniformStruct({
  n: 'u32', clip: 'f32', beta1: 'f32', omb1: 'f32', beta2: 'f32',
  omb2: 'f32', eps: 'f32', rbc2: 'f32', alpha: 'f32', lrwd: 'f32',
});

export interface AdamwHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Adam's step count t ≥ 1 (this update included). */
  t: number;
  /** Global-norm clip factor in (0, 1]; the gradient is multiplied by it. */
  clip: number;
}

/** One parameter tensor and its optimizer state, all f32 of the same size. */
export interface AdamwTensors {
  param: GpuTensor<'f32'>;
  grad: GpuTensor<'f32'>;
  m: GpuTensor<'f32'>;
  v: GpuTensor<'f32'>;
}

/** Throws a RangeError naming the first hyperparameter AdamW cannot use. */
export function checkAdamwHyper(h: AdamwHyper): void {
  const bad = (what: string) => {
    throw new RangeError(`adamw: ${what}`);
  };
  if (!(h.lr >= 0) || !Number.isFinite(h.lr)) bad(`lr ${h.lr} is not a finite number ≥ 0`);
  for (const [k, b] of [['beta1', h.beta1], ['beta2', h.beta2]] as const) if (!(b >= 0 && b < 1)) bad(`${k} ${b} is not in [0, 1)`);
  if (!(h.eps > 0) || !Number.isFinite(h.eps)) bad(`eps ${h.eps} is not a finite number > 0 (0 would divide 0 by 0 where v is 0)`);
  if (!(h.weightDecay >= 0) || !Number.isFinite(h.weightDecay)) bad(`weight decay ${h.weightDecay} is not a finite number ≥ 0`);
  if (!Number.isInteger(h.t) || h.t < 1) bad(`step count t = ${h.t} is not an integer ≥ 1`);
  if (!(h.clip > 0 && h.clip <= 1)) bad(`clip factor ${h.clip} is not in (0, 1]`);
}

/** The uniform values of one step, from the hyperparameters (f64 here, f32 in the struct). */
export function adamwUniforms(n: number, h: AdamwHyper) {
  return {
    n,
    clip: h.clip,
    beta1: h.beta1,
    omb1: 1 - h.beta1,
    beta2: h.beta2,
    omb2: 1 - h.beta2,
    eps: h.eps,
    rbc2: 1 / Math.sqrt(1 - h.beta2 ** h.t),
    alpha: h.lr / (1 - h.beta1 ** h.t),
    lrwd: h.lr * h.weightDecay,
  };
}

/** param, m, v ← one AdamW step from grad (in place). */
export function adamwStep(ctx: GpuContext, t: AdamwTensors, h: AdamwHyper, opts: KernelOptions = {}): void {
  checkAdamwHyper(h);
  const n = t.param.size;
  for (const k of ['param', 'grad', 'm', 'v'] as const) {
    const x = t[k];
    if (x.dtype !== 'f32') throw new RangeError(`adamwStep: ${k} is ${x.dtype}, expected f32`);
    if (x.size !== n) throw new RangeError(`adamwStep: ${k} [${x.shape}] does not match param [${t.param.shape}]`);
  }
  if (new Set([t.param.buffer, t.grad.buffer, t.m.buffer, t.v.buffer]).size !== 4) throw new RangeError('adamwStep: param, grad, m and v must be four distinct buffers');
  checkU32Count('adamwStep', n);
  if (n === 0) return;
  dispatch(ctx, KERNEL, {
    uniform: params.pack(adamwUniforms(n, h)),
    buffers: [t.grad.buffer, t.param.buffer, t.m.buffer, t.v.buffer],
    workgroups: foldedGrid(n, WG, opts.foldAt),
    encoder: opts.encoder,
  });
}
