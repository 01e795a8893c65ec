// AdamW over the trainable parameters on the GPU (scales θ of the quantization
// parametrizations, LoRA A and B, optionally norm weights), with global-norm
// clipping and a guard against non-finite steps. One step:
//   1. grad_norm.wgsl over every gradient: Σ g² and the count of NaN/±Inf, in a
//      fixed order; 8 bytes come back to the CPU. This is the one readback per
//      step: the clip factor and the decision to skip need the norm on the CPU.
//   2. A bad step (the caller's loss, or a gradient value, is NaN/Inf, or Σ g²
//      overflows f32) applies no update. Because the norm is read before any
//      update is encoded, a bad step never touches parameters or moments.
//      With onBadStep 'rollback' (default) it also restores the state from
//      before the previous update: the non-finite loss/gradient was evaluated
//      at the parameters that update produced, so keeping them could fail again
//      on every batch; the last parameters known to give a finite step are
//      those. 'skip' keeps the current state (no snapshot memory). Either way
//      the lr factor is multiplied by badStepLrFactor (0.5) and an event says so.
//   3. A good step: (rollback mode) copy param, m, v to the snapshot, then one
//      adamw_step dispatch per tensor with the clip factor
//      min(1, maxGradNorm / (norm + 1e-6)), all in one submit.
// Gradients are never modified: the trainer zeroes them (zeroGrads, or by
// running the first micro-batch's backward with accumulate off) and
// accumulates k micro-batches (beta = 1 in the gradient kernels) before step().
import type { GpuContext } from '../gpu/device.ts';
import { GpuTensor } from '../gpu/buffers.ts';
import { submit } from '../gpu/pipelines.ts';
import { adamwStep, checkAdamwHyper } from '../gpu/kernels/adamw.ts';
import { encodeGradNorm, GradNormWorkspace, readGradNorm } from '../gpu/kernels/grad_norm.ts';
import type { ParamGroup, TrainableParam } from '../model/trainable_param.ts';

/** A parameter with the moments the optimizer allocated for it. */
export interface OptimizerSlot extends TrainableParam {
  group: string;
  weightDecay: number;
  m: GpuTensor<'f32'>;
  v: GpuTensor<'f32'>;
}

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Global gradient-norm limit; Infinity turns clipping off (the norm is still checked). */
  maxGradNorm?: number;
  /** The lr factor is multiplied by this after each bad step; in (0, 1]. */
  badStepLrFactor?: number;
  /** What a bad step restores: see the file comment. */
  onBadStep?: 'rollback' | 'skip';
  /** Fold 1-D grids at this many workgroups (tests of the folded indexing). */
  foldAt?: number;
}

export type BadStepReason = 'non-finite-loss' | 'non-finite-gradient' | 'gradient-norm-overflow';

/** What a bad step did, for the trainer to print or show. */
export interface BadStepEvent {
  type: 'bad-step';
  reason: BadStepReason;
  message: string;
  /** 0-based index of this step() call. */
  call: number;
  loss: number | undefined;
  /** Norm of the finite gradient values (Infinity on overflow). */
  gradNorm: number;
  nonFiniteCount: number;
  /** True when parameters and moments were restored from before the previous update. */
  rolledBack: boolean;
  lrScaleBefore: number;
  lrScale: number;
  /** Bad steps in a row, this one included: the trainer may stop past some count. */
  consecutive: number;
}

export interface StepResult {
  applied: boolean;
  /** Adam's step count after this call (updates applied, less those rolled back). */
  t: number;
  gradNorm: number;
  /** Factor the gradients were multiplied by (1 when not clipped or not applied). */
  clipFactor: number;
  /** Learning rate used (or that would have been): the caller's lr × lrScale. */
  lr: number;
  event?: BadStepEvent;
}

/** Fill gradient tensors with 0 on the GPU (clearBuffer: no shader, no upload). */
export function zeroGrads(ctx: GpuContext, grads: readonly GpuTensor[], encoder?: GPUCommandEncoder): void {
  const enc = encoder ?? ctx.device.createCommandEncoder();
  for (const g of grads) enc.clearBuffer(g.buffer, 0, g.byteSize);
  if (!encoder) submit(ctx, enc);
}

interface Snapshot {
  param: GpuTensor<'f32'>;
  m: GpuTensor<'f32'>;
  v: GpuTensor<'f32'>;
}

/** AdamW's counters besides the tensors: Adam's t, the snapshot's t, the lr factor, bad-step counts. */
export interface AdamWCounters {
  t: number;
  snapT: number;
  updatedSinceSnapshot: boolean;
  lrScale: number;
  consecutiveBad: number;
  calls: number;
}

export class AdamW {
  readonly slots: readonly OptimizerSlot[];
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly maxGradNorm: number;
  readonly badStepLrFactor: number;
  readonly onBadStep: 'rollback' | 'skip';
  private readonly foldAt: number | undefined;
  private readonly norm: GradNormWorkspace;
  private readonly snapshots: Snapshot[] | null;
  private count = 0;
  private snapCount = 0;
  /** An update was applied since the snapshot was taken (a rollback would change something). */
  private updatedSinceSnapshot = false;
  private scale = 1;
  private consecutiveBad = 0;
  private calls = 0;
  private busy = false;
  private destroyed = false;

  constructor(
    readonly ctx: GpuContext,
    groups: readonly ParamGroup[],
    opts: AdamWOptions = {},
  ) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.maxGradNorm = opts.maxGradNorm ?? 1;
    this.badStepLrFactor = opts.badStepLrFactor ?? 0.5;
    this.onBadStep = opts.onBadStep ?? 'rollback';
    this.foldAt = opts.foldAt;
    if (!(this.maxGradNorm > 0)) throw new RangeError(`AdamW: maxGradNorm ${this.maxGradNorm} is not > 0 (Infinity turns clipping off)`);
    if (!(this.badStepLrFactor > 0 && this.badStepLrFactor <= 1)) throw new RangeError(`AdamW: badStepLrFactor ${this.badStepLrFactor} is not in (0, 1]`);
    if (this.onBadStep !== 'rollback' && this.onBadStep !== 'skip') throw new RangeError(`AdamW: onBadStep '${String(this.onBadStep)}' is not 'rollback' or 'skip'`);
    for (const g of groups) checkAdamwHyper({ lr: 0, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: g.weightDecay, t: 1, clip: 1 });
    checkParams(groups);

    // Allocate only after every check: a refused configuration leaks nothing.
    const zeros = (p: TrainableParam, what: string) => GpuTensor.empty(ctx, p.param.shape, 'f32', `adamw.${p.name}.${what}`); // WebGPU zero-fills new buffers
    this.slots = groups.flatMap((g) => g.params.map((p) => ({ ...p, group: g.name, weightDecay: g.weightDecay, m: zeros(p, 'm'), v: zeros(p, 'v') })));
    this.norm = new GradNormWorkspace(ctx, this.slots.map((s) => s.grad.size), 'adamw.grad_norm');
    this.snapshots = this.onBadStep === 'rollback' ? this.slots.map((s) => ({ param: zeros(s, 'last_good'), m: zeros(s, 'last_good_m'), v: zeros(s, 'last_good_v') })) : null;
    // The snapshot starts equal to the current state (m = v = 0).
    if (this.snapshots) this.copyState('save');
  }

  /** Adam's step count: updates applied (less those rolled back). */
  get t(): number {
    return this.count;
  }

  /** Factor on the caller's lr: 1, times badStepLrFactor per bad step. */
  get lrScale(): number {
    return this.scale;
  }

  /**
   * One optimizer step from the accumulated gradients, at learning rate
   * lr × lrScale. `loss` (the step's mean loss, if the caller has it) is
   * checked too. Resolves after the update is submitted.
   */
  async step(input: { lr: number; loss?: number }): Promise<StepResult> {
    if (this.destroyed) throw new Error('AdamW.step: the optimizer was destroyed');
    if (this.busy) throw new Error('AdamW.step: the previous step has not finished; await it first');
    if (!(input.lr >= 0) || !Number.isFinite(input.lr)) throw new RangeError(`AdamW.step: lr ${input.lr} is not a finite number ≥ 0`);
    this.busy = true;
    try {
      const grads = this.slots.map((s) => s.grad);
      const slot = encodeGradNorm(this.ctx, grads, this.norm, { foldAt: this.foldAt });
      const r = await readGradNorm(this.ctx, this.norm, slot);
      const call = this.calls++;
      const lr = input.lr * this.scale;
      const reason: BadStepReason | null =
        input.loss !== undefined && !Number.isFinite(input.loss) ? 'non-finite-loss'
        : r.nonFinite > 0 ? 'non-finite-gradient'
        : !Number.isFinite(r.norm) ? 'gradient-norm-overflow'
        : null;
      if (reason) {
        const event = this.badStep(reason, call, input.loss, r.norm, r.nonFinite); // may roll t back
        return { applied: false, t: this.count, gradNorm: r.norm, clipFactor: 1, lr, event };
      }

      const clip = Math.min(1, this.maxGradNorm / (r.norm + 1e-6));
      const enc = this.ctx.device.createCommandEncoder();
      if (this.snapshots) {
        this.copyState('save', enc);
        this.snapCount = this.count;
      }
      const t = ++this.count;
      for (const s of this.slots)
        adamwStep(this.ctx, s, { lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: s.weightDecay, t, clip }, { encoder: enc, foldAt: this.foldAt });
      submit(this.ctx, enc);
      this.updatedSinceSnapshot = true;
      this.consecutiveBad = 0;
      return { applied: true, t, gradNorm: r.norm, clipFactor: clip, lr };
    } finally {
      this.busy = false;
    }
  }

  /**
   * The GPU tensors that make up this optimizer's state, each under a stable
   * key: param/NAME, m/NAME, v/NAME and, in rollback mode, the snapshot's
   * last_good/…, last_good_m/…, last_good_v/… (a bad step right after a resume
   * must roll back exactly as it would have). Checkpoints (src/train/checkpoint/)
   * read and write these; the optimizer never sees where they go.
   */
  stateTensors(): { key: string; tensor: GpuTensor<'f32'> }[] {
    const out: { key: string; tensor: GpuTensor<'f32'> }[] = [];
    this.slots.forEach((s, i) => {
      out.push({ key: `param/${s.name}`, tensor: s.param }, { key: `m/${s.name}`, tensor: s.m }, { key: `v/${s.name}`, tensor: s.v });
      const snap = this.snapshots?.[i];
      if (snap) out.push({ key: `last_good/${s.name}`, tensor: snap.param }, { key: `last_good_m/${s.name}`, tensor: snap.m }, { key: `last_good_v/${s.name}`, tensor: snap.v });
    });
    return out;
  }

  /** The CPU side of the state: with stateTensors(), all a resumed run needs to step exactly as this one would. */
  get counters(): AdamWCounters {
    return { t: this.count, snapT: this.snapCount, updatedSinceSnapshot: this.updatedSinceSnapshot, lrScale: this.scale, consecutiveBad: this.consecutiveBad, calls: this.calls };
  }

  /** Put counters saved by `counters` back (the tensors are written separately, before the next step). */
  restoreCounters(c: AdamWCounters): void {
    for (const [k, v] of Object.entries(c))
      if (k !== 'updatedSinceSnapshot' && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw new RangeError(`AdamW.restoreCounters: ${k} ${String(v)} is not a finite number ≥ 0`);
    this.count = c.t;
    this.snapCount = c.snapT;
    this.updatedSinceSnapshot = c.updatedSinceSnapshot === true;
    this.scale = c.lrScale;
    this.consecutiveBad = c.consecutiveBad;
    this.calls = c.calls;
  }

  /** zeroGrads over every trainable parameter's gradient. */
  zeroGrads(encoder?: GPUCommandEncoder): void {
    zeroGrads(this.ctx, this.slots.map((s) => s.grad), encoder);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const s of this.slots) [s.m, s.v].forEach((x) => x.destroy());
    for (const s of this.snapshots ?? []) [s.param, s.m, s.v].forEach((x) => x.destroy());
    this.norm.destroy();
  }

  private badStep(reason: BadStepReason, call: number, loss: number | undefined, gradNorm: number, nonFiniteCount: number): BadStepEvent {
    const lrScaleBefore = this.scale;
    this.scale *= this.badStepLrFactor;
    this.consecutiveBad++;
    const rolledBack = this.snapshots !== null && this.updatedSinceSnapshot;
    if (rolledBack) {
      this.copyState('restore');
      this.count = this.snapCount;
      this.updatedSinceSnapshot = false;
    }
    const what =
      reason === 'non-finite-loss' ? `the loss is ${loss}`
      : reason === 'non-finite-gradient' ? `${nonFiniteCount} gradient value${nonFiniteCount === 1 ? ' is' : 's are'} NaN or infinite`
      : 'the gradient norm overflows f32';
    const restored = rolledBack ? '; parameters and optimizer state restored to before the previous update' : '';
    const message = `step ${call}: ${what}; update skipped${restored}; learning rate ×${this.badStepLrFactor} (now ${this.scale} × schedule)`;
    return { type: 'bad-step', reason, message, call, loss, gradNorm, nonFiniteCount, rolledBack, lrScaleBefore, lrScale: this.scale, consecutive: this.consecutiveBad };
  }

  /** Copy (param, m, v) of every slot to the snapshot ('save') or back ('restore'). */
  private copyState(dir: 'save' | 'restore', encoder?: GPUCommandEncoder): void {
    const enc = encoder ?? this.ctx.device.createCommandEncoder();
    this.slots.forEach((s, i) => {
      const snap = this.snapshots![i];
      for (const k of ['param', 'm', 'v'] as const) {
        const [from, to] = dir === 'save' ? [s[k], snap[k]] : [snap[k], s[k]];
        enc.copyBufferToBuffer(from.buffer, 0, to.buffer, 0, from.byteSize);
      }
    });
    if (!encoder) submit(this.ctx, enc);
  }
}

/** Names unique, tensors f32, grad matching param, no buffer used twice (it would be updated twice). */
function checkParams(groups: readonly ParamGroup[]): void {
  const names = new Set<string>();
  const buffers = new Set<GPUBuffer>();
  for (const g of groups)
    for (const p of g.params) {
      const where = `AdamW: parameter '${p.name}' (group '${g.name}')`;
      if (names.has(p.name)) throw new RangeError(`${where}: the name is used twice`);
      names.add(p.name);
      if (p.param.dtype !== 'f32' || p.grad.dtype !== 'f32') throw new RangeError(`${where}: param and grad must be f32, got ${p.param.dtype} and ${p.grad.dtype}`);
      if (p.grad.size !== p.param.size) throw new RangeError(`${where}: grad [${p.grad.shape}] does not match param [${p.param.shape}]`);
      for (const [k, t] of [['param', p.param], ['grad', p.grad]] as const) {
        if (buffers.has(t.buffer)) throw new RangeError(`${where}: its ${k} buffer is already another parameter's param or grad`);
        buffers.add(t.buffer);
      }
    }
}
