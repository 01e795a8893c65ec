// What training leaves in the worker between requests: the state of the last
// run (its Trainable, kept on the GPU for export to read) and the Pause/Resume
// gate of the run in progress. The model slot owns one TrainSlot and empties it
// whenever the weights a run may borrow go away (a new load, a lost device), so
// a kept Trainable never outlives the buffers it points into. Nothing here is
// sent to the page: the page only sees the run's report.
import type { LoadedModel } from '../io/loaded_model.ts';
import type { LayerLora, LlamaModel } from '../model/llama.ts';
import type { Trainable } from '../model/trainable.ts';
import type { ModelWeights } from '../model/weights.ts';
import type { QTensor } from '../quant/qtensor.ts';
import type { RunInfo } from '../train/state.ts';
import type { GgufLayer } from '../train/budget/overlay.ts';
import type { VqTensor } from '../quant/vq/vqtensor.ts';
import type { StopFlag } from '../train/trainer.ts';

/**
 * A finished (or stopped) run, alive on the GPU. `trainable` holds the trained
 * θ / LoRA factors; encodeTrainedState(trainable, info, quantized ?? undefined, ggufLayers, vqLayers)
 * turns it into the state export reads. When the run trained on the model's
 * resident weights, their scales were put back to the base's after the run (so
 * generate keeps using the base); trainable.apply() writes the tuned ones again.
 */
export class TrainedRun {
  constructor(
    readonly file: LoadedModel,
    readonly llama: LlamaModel,
    readonly trainable: Trainable,
    /** Layers sub4 quantized for this run (--bits / LQ-LoRA), else null. */
    readonly quantized: ReadonlyMap<string, QTensor> | null,
    readonly info: RunInfo,
    /** Weights this run uploaded itself (a quantized base); null when it borrowed the resident ones. */
    private readonly ownWeights: ModelWeights | null,
    /** Layers a bit-budget plan put in GGUF block types (info.budget has the plan); empty otherwise. */
    readonly ggufLayers: ReadonlyMap<string, GgufLayer> = new Map(),
    /** Layers a ReALLM run put in learned codebooks (info.reallm has their shape); empty otherwise. */
    readonly vqLayers: ReadonlyMap<string, VqTensor> = new Map(),
  ) {}

  /** True when the run trained on the model slot's resident weights (they must outlive it). */
  get borrowsWeights(): boolean {
    return this.ownWeights === null;
  }

  /**
   * Run `fn` on the tuned model: the trained scales written into the weights
   * and the LoRA factors to join each forward. Borrowed (resident) weights get
   * the base's scales back afterwards, so base requests stay on the base.
   */
  async withTuned<T>(fn: (llama: LlamaModel, lora: readonly LayerLora[]) => Promise<T>): Promise<T> {
    this.trainable.apply();
    try {
      return await fn(this.llama, this.trainable.lora);
    } finally {
      if (this.borrowsWeights) await restoreBaseScales(this.trainable);
    }
  }

  destroy(): void {
    this.trainable.destroy();
    this.ownWeights?.destroy();
  }
}

/**
 * The running run's stop flag with a pause: Trainer.run awaits between() before
 * each step, so a pause takes effect between steps and Stop (the request's
 * signal) also ends a pause. Time spent paused is left out of elapsed().
 */
export class RunGate implements StopFlag {
  private paused = false;
  private wake: (() => void) | null = null;
  private startedAt: number | null = null;
  private pausedMs = 0;

  constructor(
    private readonly signal: AbortSignal,
    private readonly onState: (state: 'running' | 'paused') => void,
  ) {
    signal.addEventListener('abort', () => this.wake?.(), { once: true });
  }

  get aborted(): boolean {
    return this.signal.aborted;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.wake?.();
  }

  /** Milliseconds of training since the first step began, pauses excluded. */
  elapsed(): number {
    return this.startedAt === null ? 0 : performance.now() - this.startedAt - this.pausedMs;
  }

  async between(): Promise<void> {
    this.startedAt ??= performance.now();
    if (!this.paused || this.signal.aborted) return;
    const t0 = performance.now();
    this.onState('paused');
    while (this.paused && !this.signal.aborted) await new Promise<void>((r) => (this.wake = r));
    this.wake = null;
    this.pausedMs += performance.now() - t0;
    this.onState('running');
  }
}

export class TrainSlot {
  private kept: TrainedRun | null = null;
  /** The gate of the run in progress, for train-control; null when none runs. */
  gate: RunGate | null = null;
  /** Write the running run's last good state as its checkpoint now (train-control 'checkpoint'); null when none runs. */
  checkpointNow: (() => Promise<void>) | null = null;

  /** The last run's trained state, or null (none yet, or freed with its model). */
  get trained(): TrainedRun | null {
    return this.kept;
  }

  /** Keep `run` (null: keep nothing), freeing the previous one. */
  keep(run: TrainedRun | null): void {
    if (this.kept === run) return;
    this.kept?.destroy();
    this.kept = run;
  }
}

/**
 * PEQA wrote trained scales into the resident weights (Trainable.apply()). Put
 * the base's back, computed from each layer's starting θ, and keep the trained
 * θ in the trainable, so generate sees the base and export still reads the run.
 */
/**
 * As restoreBaseScales, for a run that is being thrown away (an error, a lost
 * device): the base's scales go back into the borrowed weights without reading
 * the trained θ, so it is synchronous and can run inside a destroy().
 */
export function resetBaseScales(tr: Trainable): void {
  const peqa = tr.layers.flatMap((roles) => Object.values(roles).flatMap((t) => (t?.peqa ? [t.peqa] : [])));
  if (peqa.length === 0) return;
  for (const p of peqa) p.gpu.theta.write(p.p.theta);
  tr.apply();
}

export async function restoreBaseScales(tr: Trainable): Promise<void> {
  const peqa = tr.layers.flatMap((roles) => Object.values(roles).flatMap((t) => (t?.peqa ? [t.peqa] : [])));
  if (peqa.length === 0) return;
  const trained = await Promise.all(peqa.map((p) => p.gpu.theta.read()));
  for (const p of peqa) p.gpu.theta.write(p.p.theta);
  tr.apply();
  peqa.forEach((p, i) => p.gpu.theta.write(trained[i]));
}
