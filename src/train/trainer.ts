// The training loop: optimizer steps over a dataset's train windows, each step
// k micro-batches of B windows of T tokens. The first micro-batch overwrites the
// gradients, the rest add into them (ModelBackward's accumulate), all scaled by
// 1 / (counted tokens of the whole step), so the update is that of the mean loss
// over the step's tokens whatever k is. Then AdamW at the schedule's lr, with
// clipping and its non-finite guard (events passed on, a run stopped after too
// many bad steps in a row). Held-out loss / perplexity on the eval windows
// before training, every evalEvery steps and after; optional greedy samples of
// fixed prompts before and after. Deterministic: windows are taken in the
// dataset's (seeded) order, LoRA init is seeded by the trainable, and nothing
// here draws random numbers. A stop flag is checked between steps, and before
// each eval batch and sampled token until the first step (a run stopped before
// it trained anything has nothing to score or sample after). A step that throws
// after others were applied ends the run as 'failed' with what was trained kept
// and scored, like Stop; one that throws before any was applied is rethrown.
import { ledgerOf } from '../gpu/buffers.ts';
import type { Activations, LlamaModel } from '../model/llama.ts';
import { ModelBackward } from '../model/backward.ts';
import type { SaveMode } from '../model/spec.ts';
import type { Trainable } from '../model/trainable.ts';
import type { Windows } from './data/pack.ts';
import type { DistillSource } from './distill/teacher.ts';
import { AdamW, type AdamWOptions, type BadStepEvent } from './optimizer.ts';
import { checkSchedule, learningRate, type LrSchedule } from './schedule.ts';

export interface TrainerOptions {
  /** Windows per micro-batch. */
  batch: number;
  /** Micro-batches per optimizer step; default 1. */
  accumulate?: number;
  steps: number;
  schedule: LrSchedule;
  adamw?: AdamWOptions;
  /** Evaluate every this many steps (0 = only before and after); default 0. */
  evalEvery?: number;
  /** At most this many eval windows are scored; default all. */
  evalWindows?: number;
  /** Activation plan of the training step; default true (every activation kept). */
  save?: Exclude<SaveMode, false>;
  /** Cross-entropy rows per chunk; default 64. */
  chunk?: number;
  /** Stop after this many bad (non-finite) steps in a row; default 5. */
  maxBadSteps?: number;
  /** Prompts (token ids) sampled greedily before and after training. */
  samplePrompts?: readonly (readonly number[])[];
  sampleTokens?: number;
  /** Distill from this teacher: the step's loss is KL(teacher ‖ student) on the same rows (src/train/distill/). */
  distill?: DistillSource;
}

export interface StepEvent {
  type: 'step';
  /** 1-based optimizer step. */
  step: number;
  /** Mean loss over the step's counted tokens. */
  loss: number;
  lr: number;
  tokensPerSecond: number;
  /** Live GPU bytes (the device's ledger). */
  gpuBytes: number;
  gradNorm: number;
  applied: boolean;
  event?: BadStepEvent;
}

export interface EvalEvent {
  type: 'eval';
  step: number;
  evalLoss: number;
  evalPpl: number;
  tokens: number;
}

export interface SampleEvent {
  type: 'sample';
  when: 'before' | 'after';
  prompt: readonly number[];
  tokens: number[];
}

export type TrainEvent = StepEvent | EvalEvent | SampleEvent;

/** Anything with `aborted` (an AbortSignal, or a plain flag object). */
export interface StopFlag {
  readonly aborted: boolean;
  /** Awaited between steps, before `aborted` is read: a paused run waits here (the studio's Pause). */
  between?(): Promise<void>;
}

/**
 * Hooks of run() for checkpoints, resume and the held-out guard
 * (src/train/checkpoint/); the trainer itself only calls them.
 */
export interface RunHooks {
  /** Continue a saved run: no samples or eval before; these carry on (setPosition already called). */
  resumed?: { before: EvalEvent | null; losses: number[]; samples: SampleEvent[] };
  /** After each step and its eval (if any); 'stop' ends the run (the held-out guard). */
  afterStep?(at: { step: StepEvent; eval: EvalEvent | null; before: EvalEvent | null; losses: readonly number[]; samples: readonly SampleEvent[] }): Promise<void | 'stop'>;
  /** Once the loop ends, before the final eval: the last checkpoint, then the best state put back. */
  beforeFinal?(at: { before: EvalEvent | null; losses: readonly number[]; samples: readonly SampleEvent[] }): Promise<void>;
}

export interface TrainSummary {
  steps: number;
  stop: 'done' | 'stopped' | 'bad-steps' | 'failed' | 'early-stop';
  /** What ended a 'failed' run (the error of the step after the last applied one); else null. */
  failure: { name: string; message: string } | null;
  losses: number[];
  before: EvalEvent | null;
  after: EvalEvent | null;
  samples: SampleEvent[];
  tokensPerSecond: number;
  peakGpuBytes: number;
}

/** Targets/mask rows that cross_entropy counts (as ModelBackward.step). */
function countTokens(targets: ArrayLike<number>, mask: ArrayLike<number>, vocab: number): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0 && targets[i] < vocab) n++;
  return n;
}

const posInt = (n: number, what: string, min = 1) => {
  if (!Number.isInteger(n) || n < min) throw new RangeError(`trainer: ${what} ${n} is not an integer ≥ ${min}`);
};

/** Runs a training job on a model + trainable it borrows; destroy() frees what it allocated. */
export class Trainer {
  readonly B: number;
  readonly T: number;
  readonly k: number;
  readonly optimizer: AdamW;
  private readonly backward: ModelBackward;
  private readonly acts: Activations;
  private evalActs: Activations | null = null;
  private cursor = 0;
  private stepCount = 0;

  constructor(
    readonly model: LlamaModel,
    readonly trainable: Trainable,
    readonly data: { train: Windows; eval: Windows },
    readonly opts: TrainerOptions,
  ) {
    this.B = opts.batch;
    this.T = data.train.seqLen;
    this.k = opts.accumulate ?? 1;
    posInt(this.B, 'batch');
    posInt(this.k, 'accumulate');
    posInt(opts.steps, 'steps', 0);
    posInt(opts.evalEvery ?? 0, 'evalEvery', 0);
    checkSchedule(opts.schedule);
    if (data.train.count === 0) throw new RangeError('trainer: the dataset has no training windows');
    if (data.eval.count > 0 && data.eval.seqLen !== this.T) throw new RangeError(`trainer: eval windows of ${data.eval.seqLen} tokens, train windows of ${this.T}`);
    const acts = model.activations(this.B, this.T, opts.save ?? true);
    let backward: ModelBackward | undefined;
    try {
      backward = new ModelBackward(model, trainable, this.B, this.T, { chunk: opts.chunk });
      this.optimizer = new AdamW(model.ctx, trainable.groups(), opts.adamw);
    } catch (e) {
      acts.destroy();
      backward?.destroy();
      throw e;
    }
    this.acts = acts;
    this.backward = backward;
  }

  /** Optimizer steps done. */
  get step(): number {
    return this.stepCount;
  }

  /** Steps done and the data cursor (windows taken so far): with the seed, the run's place in its data. */
  get position(): { step: number; cursor: number } {
    return { step: this.stepCount, cursor: this.cursor };
  }

  /** Continue from a saved position (a checkpoint restores the optimizer's tensors and counters beside it). */
  setPosition(p: { step: number; cursor: number }): void {
    posInt(p.step, 'step', 0);
    posInt(p.cursor, 'cursor', 0);
    this.stepCount = p.step;
    this.cursor = p.cursor;
  }

  /** Rows [i·T, (i+1)·T) of B windows from the cursor, wrapping around the train set. */
  private nextBatch(): { ids: Uint32Array; targets: Uint32Array; mask: Uint32Array; windows: number[] } {
    const w = this.data.train;
    const T = this.T;
    const ids = new Uint32Array(this.B * T);
    const targets = new Uint32Array(this.B * T);
    const mask = new Uint32Array(this.B * T);
    const windows: number[] = [];
    for (let b = 0; b < this.B; b++) {
      const i = this.cursor++ % w.count;
      windows.push(i);
      ids.set(w.inputs.subarray(i * T, i * T + T), b * T);
      targets.set(w.targets.subarray(i * T, i * T + T), b * T);
      mask.set(w.mask.subarray(i * T, i * T + T), b * T);
    }
    return { ids, targets, mask, windows };
  }

  /** One optimizer step over k micro-batches. */
  async trainStep(): Promise<StepEvent> {
    const t0 = performance.now();
    const V = this.model.config.vocabSize;
    const micro = Array.from({ length: this.k }, () => this.nextBatch());
    const total = micro.reduce((s, m) => s + countTokens(m.targets, m.mask, V), 0);
    if (total === 0) throw new RangeError(`trainer: step ${this.stepCount + 1} has no token whose loss counts (every mask is 0)`);
    let lossSum = 0;
    let first = true;
    for (const m of micro) {
      // A micro-batch with no counted token adds nothing (and ModelBackward refuses it); the first counted
      // one overwrites the gradients, so no zeroing pass is needed.
      if (countTokens(m.targets, m.mask, V) === 0) continue;
      const d = await this.opts.distill?.prepare(m.ids, (n) => m.mask[n] !== 0 && m.targets[n] < V, m.windows);
      try {
        const r = this.backward.step(this.acts, m.ids, { targets: m.targets, mask: m.mask, gradScale: 1 / total, accumulate: !first, distill: d });
        first = false;
        for (const v of await r.loss.read()) lossSum += v;
      } finally {
        d?.release();
      }
    }
    const loss = lossSum / total;
    const lr = learningRate(this.opts.schedule, this.stepCount);
    const r = await this.optimizer.step({ lr, loss });
    this.stepCount++;
    const secs = (performance.now() - t0) / 1000;
    return {
      type: 'step',
      step: this.stepCount,
      loss,
      lr: r.lr,
      tokensPerSecond: (this.k * this.B * this.T) / secs,
      gpuBytes: ledgerOf(this.model.ctx).live,
      gradNorm: r.gradNorm,
      applied: r.applied,
      event: r.event,
    };
  }

  /** Mean loss over the counted tokens of the eval windows (with the current trainable state); null when `stop` ends it early. */
  async evaluate(stop?: StopFlag): Promise<EvalEvent | null> {
    const w = this.data.eval;
    const n = Math.min(w.count, this.opts.evalWindows ?? w.count);
    if (n === 0) return null;
    const T = this.T;
    const V = this.model.config.vocabSize;
    this.evalActs ??= this.model.activations(this.B, T, false);
    this.trainable.apply();
    const lora = this.trainable.lora;
    let sum = 0;
    let tokens = 0;
    for (let w0 = 0; w0 < n; w0 += this.B) {
      if (stop?.aborted) return null;
      const ids = new Uint32Array(this.B * T);
      const targets = new Uint32Array(this.B * T).fill(0xffffffff);
      const mask = new Uint32Array(this.B * T);
      for (let b = 0; b < this.B && w0 + b < n; b++) {
        const i = w0 + b;
        ids.set(w.inputs.subarray(i * T, i * T + T), b * T);
        targets.set(w.targets.subarray(i * T, i * T + T), b * T);
        mask.set(w.mask.subarray(i * T, i * T + T), b * T);
      }
      this.model.forward(this.evalActs, ids, { lora });
      const lossT = this.model.tokenLoss(this.evalActs, targets, mask);
      try {
        for (const v of await lossT.read()) sum += v;
      } finally {
        lossT.destroy();
      }
      tokens += countTokens(targets, mask, V);
    }
    if (tokens === 0) return null;
    const evalLoss = sum / tokens;
    return { type: 'eval', step: this.stepCount, evalLoss, evalPpl: Math.exp(evalLoss), tokens };
  }

  /** Greedy continuation of `prompt` through the trained state (full re-forward per token: prompts are short). */
  async sample(prompt: readonly number[], maxTokens: number, halt?: StopFlag): Promise<number[]> {
    if (prompt.length === 0) throw new RangeError('trainer: a sample prompt has no tokens');
    const seq = [...prompt];
    const eos = new Set(this.model.config.eosTokenIds);
    this.trainable.apply();
    const lora = this.trainable.lora;
    const out: number[] = [];
    while (out.length < maxTokens && seq.length < this.model.config.maxPositions && !halt?.aborted) {
      const acts = this.model.activations(1, seq.length, false);
      try {
        this.model.forward(acts, seq, { lora });
        const z = this.model.logits(acts, seq.length - 1, 1);
        const logits = await z.read();
        z.destroy();
        let best = 0;
        for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        if (eos.has(best)) break;
        out.push(best);
        seq.push(best);
      } finally {
        acts.destroy();
      }
    }
    return out;
  }

  /** Greedy samples of the prompts; `stop` ends them early, and a sample it cut short is not reported. */
  private async samples(when: 'before' | 'after', onEvent?: (e: TrainEvent) => void, stop?: StopFlag): Promise<SampleEvent[]> {
    const out: SampleEvent[] = [];
    for (const prompt of this.opts.samplePrompts ?? []) {
      const e: SampleEvent = { type: 'sample', when, prompt, tokens: await this.sample(prompt, this.opts.sampleTokens ?? 16, stop) };
      if (stop?.aborted) break;
      onEvent?.(e);
      out.push(e);
    }
    return out;
  }

  /**
   * Evaluate, run opts.steps steps (or until `stop` is set), evaluate again. Stop before the first step
   * also cuts the evaluation and samples before it short, and skips those after (nothing was trained).
   */
  async run(onEvent?: (e: TrainEvent) => void, stop?: StopFlag, hooks?: RunHooks): Promise<TrainSummary> {
    const ledger = ledgerOf(this.model.ctx);
    // The ledger keeps one peak for the device's life; this run's peak starts from what it holds now
    // (weights, trainable, optimizer, activations), else a run reports the largest of every run before it.
    ledger.resetPeak();
    const resumed = hooks?.resumed;
    const samples = resumed ? [...resumed.samples] : await this.samples('before', onEvent, stop);
    const before = resumed ? resumed.before : await this.evaluate(stop);
    if (before && !resumed) onEvent?.(before);
    const losses: number[] = resumed ? [...resumed.losses] : [];
    let reason: TrainSummary['stop'] = 'done';
    let failure: TrainSummary['failure'] = null;
    let tokens = 0;
    let secs = 0;
    const maxBad = this.opts.maxBadSteps ?? 5;
    while (this.stepCount < this.opts.steps) {
      await stop?.between?.();
      if (stop?.aborted) {
        reason = 'stopped';
        break;
      }
      let e: StepEvent;
      try {
        e = await this.trainStep();
      } catch (err) {
        // Nothing trained yet: the run simply failed. Otherwise the steps applied so far are a tune worth keeping.
        if (this.stepCount === 0) throw err;
        reason = 'failed';
        failure = { name: err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) };
        break;
      }
      tokens += this.k * this.B * this.T;
      secs += (this.k * this.B * this.T) / e.tokensPerSecond;
      losses.push(e.loss);
      onEvent?.(e);
      if (e.event && e.event.consecutive >= maxBad) {
        reason = 'bad-steps';
        break;
      }
      const every = this.opts.evalEvery ?? 0;
      let mid: EvalEvent | null = null;
      if (every > 0 && this.stepCount % every === 0 && this.stepCount < this.opts.steps) {
        mid = await this.evaluate();
        if (mid) onEvent?.(mid);
      }
      if ((await hooks?.afterStep?.({ step: e, eval: mid, before, losses, samples })) === 'stop') {
        reason = 'early-stop';
        break;
      }
    }
    const summary = (after: EvalEvent | null): TrainSummary => ({
      steps: this.stepCount, stop: reason, failure, losses, before, after, samples, tokensPerSecond: secs > 0 ? tokens / secs : 0, peakGpuBytes: ledger.peak,
    });
    if (reason === 'stopped' && this.stepCount === 0) return summary(null);
    let after: EvalEvent | null = null;
    try {
      await hooks?.beforeFinal?.({ before, losses, samples });
      after = await this.evaluate();
      if (after) onEvent?.(after);
      samples.push(...(await this.samples('after', onEvent)));
    } catch (err) {
      // After a failure the GPU may be gone too: what the steps trained is still reported (and kept by the caller).
      if (!failure) throw err;
      failure.message += `; scoring the result failed too: ${err instanceof Error ? err.message : String(err)}`;
    }
    return summary(after);
  }

  destroy(): void {
    this.optimizer.destroy();
    this.backward.destroy();
    this.acts.destroy();
    this.evalActs?.destroy();
    this.evalActs = null;
  }
}
