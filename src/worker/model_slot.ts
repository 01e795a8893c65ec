// The engine's current model: at most one is open, and every later request
// (generate, perplexity, train, export) works on it. Loads are numbered, so when
// a second drop arrives while the first is still opening, only the newest
// becomes current and the other is closed as soon as it is ready.
//
// The slot also owns the model's weights on the GPU: uploaded on the first
// request that runs the model after a load, kept for the next ones, freed when
// a new load begins. Requests that run the model take turns (run()), because
// two of them at once would only halve each other's speed and double the GPU
// memory; a new load stops the running one (its signal aborts) before freeing.
// What training leaves behind (train_slot.ts) goes with the weights it may borrow.
import type { GpuContext } from '../gpu/device.ts';
import { GpuDeviceLostError } from '../gpu/errors.ts';
import { Sub4Error, TokenizerError } from '../base/errors.ts';
import type { LoadedModel } from '../io/loaded_model.ts';
import type { Tokenizer } from '../io/tokenizer/types.ts';
import { LlamaModel } from '../model/llama.ts';
import { loadWeights, type ModelWeights } from '../model/weights.ts';
import { NoModelError } from './errors.ts';
import type { LoadSplit } from './protocol.ts';
import { PhaseClock } from '../base/phase_clock.ts';
import { TrainSlot } from './train_slot.ts';

/** A newer load-model request replaced this one before it finished; the UI drops such answers. */
export class ModelLoadSupersededError extends Sub4Error {}

/** What a job that brings its own weights gets: the model file, its tokenizer, the stop signal. */
export interface ModelFileJob {
  file: LoadedModel;
  tokenizer: Tokenizer;
  /** Aborts when the page cancels the request or a new model is loaded (reason: a string saying which). */
  signal: AbortSignal;
}

/** What a request that runs the model gets: the model, its tokenizer and its GPU weights. */
export interface ModelJob extends ModelFileJob {
  llama: LlamaModel;
  /** When this job put the weights on the GPU (the first run after a load): how long it took, by phase; else null. */
  uploaded: LoadSplit | null;
}

/** `{ weights }` when `job` uploaded the weights, else nothing: spread into the answer (protocol WeightsPlaced). */
export function placedBy(job: ModelJob): { weights?: LoadSplit } {
  return job.uploaded ? { weights: job.uploaded } : {};
}

export interface RunOptions {
  progress(phase: string, done: number, total: number): void;
  /** The request's own cancel signal. */
  signal: AbortSignal;
  /**
   * The job handles a lost device itself (training goes on on a new one,
   * src/train/checkpoint/recover.ts): it is not failed at once when the device is lost.
   */
  survivesLoss?: boolean;
}

interface Resident {
  ctx: GpuContext;
  file: LoadedModel;
  weights: ModelWeights;
  llama: LlamaModel;
}

export const NEW_MODEL_REASON = 'a new model was loaded';

export class ModelSlot {
  private model: LoadedModel | null = null;
  private latest = 0;
  private resident: Resident | null = null;
  /** Tail of the queue of model jobs (and of begin(), which waits its turn to free the weights). */
  private turn: Promise<void> = Promise.resolve();
  private running: AbortController | null = null;
  /** The last training run's state and the running run's pause gate. */
  readonly training = new TrainSlot();

  get current(): LoadedModel | null {
    return this.model;
  }

  /** GPU bytes the current weights hold, or 0 when none are uploaded. */
  get residentBytes(): number {
    return this.resident?.weights.bytes ?? 0;
  }

  /**
   * Start a load: the previous model is closed first, so a failed load leaves no
   * model rather than one the page no longer shows, and its memory (files and
   * GPU weights) is free before the next one is read. A request running on the
   * previous model is stopped. Returns the ticket to pass to commit().
   */
  async begin(): Promise<number> {
    const ticket = ++this.latest;
    const previous = this.model;
    this.model = null;
    this.running?.abort(NEW_MODEL_REASON);
    const release = await this.takeTurn();
    try {
      this.freeWeights();
      this.training.keep(null); // trained on the previous model
      await previous?.close();
    } finally {
      release();
    }
    return ticket;
  }

  /** Make `model` current if no newer load began since `ticket`; otherwise close it and throw. */
  async commit(ticket: number, model: LoadedModel): Promise<void> {
    if (ticket !== this.latest) {
      await model.close();
      throw new ModelLoadSupersededError(`${model.name}: a newer model was dropped while this one was opening, so this one was closed.`);
    }
    this.model = model;
  }

  /**
   * Run `fn` on the current model with its weights on `ctx`, after any job
   * already running. Weights are uploaded here on first use (phase 'uploading
   * weights', tensors done of total). If the device is lost meanwhile, the job
   * fails at once with a GpuDeviceLostError; the next request brings a new
   * device (engine.worker.ts forgets a lost one) and the weights follow it.
   */
  run<T>(ctx: GpuContext, opts: RunOptions, fn: (job: ModelJob) => Promise<T>): Promise<T> {
    return this.inTurn(ctx, opts, async (job) => fn({ ...job, ...(await this.weightsFor(ctx, job.file, opts.progress, job.signal)) }));
  }

  /**
   * As run(), for a job that uploads weights of its own (training on a base it
   * quantizes first): the resident weights are freed to make room, and the
   * next run() uploads them again.
   */
  runOwnWeights<T>(ctx: GpuContext, opts: RunOptions, fn: (job: ModelFileJob) => Promise<T>): Promise<T> {
    return this.inTurn(ctx, opts, (job) => {
      this.freeWeights();
      return fn(job);
    });
  }

  /**
   * As run(), for a job that needs no weights on the GPU (export reads the kept
   * training run and the model file): it only waits its turn, so the run it
   * reads cannot be replaced or freed under it, and uploads nothing.
   */
  runWithoutWeights<T>(ctx: GpuContext, opts: RunOptions, fn: (job: ModelFileJob) => Promise<T>): Promise<T> {
    return this.inTurn(ctx, opts, fn);
  }

  private async inTurn<T>(ctx: GpuContext, opts: RunOptions, fn: (job: ModelFileJob) => Promise<T>): Promise<T> {
    const release = await this.takeTurn();
    const own = new AbortController();
    this.running = own;
    try {
      // Checked after waiting: a load that began meanwhile has taken the model away.
      const file = this.model;
      if (!file) throw new NoModelError('No model is loaded: open a .gguf file or a Hugging Face model folder first.');
      if (!file.tokenizer) throw new TokenizerError(file.name, `the model has no usable tokenizer, so text cannot be turned into tokens: ${file.tokenizerProblem ?? 'none found'}`);
      const tokenizer = file.tokenizer;
      const signal = AbortSignal.any([opts.signal, own.signal]);
      const work = fn({ file, tokenizer, signal });
      return opts.survivesLoss ? await work : await untilLost(ctx, work);
    } finally {
      if (this.running === own) this.running = null;
      release();
    }
  }

  private async weightsFor(
    ctx: GpuContext,
    file: LoadedModel,
    progress: RunOptions['progress'],
    signal: AbortSignal,
  ): Promise<{ llama: LlamaModel; uploaded: LoadSplit | null }> {
    const r = this.resident;
    if (r && r.ctx === ctx && r.file === file) return { llama: r.llama, uploaded: null };
    // Weights of another device (the previous one was lost) or of an older model are of no use.
    this.freeWeights();
    if (this.training.trained && this.training.trained.llama.ctx !== ctx) this.training.keep(null);
    progress('uploading weights', 0, 1);
    const t0 = performance.now();
    const clock = new PhaseClock();
    // Bytes of the file uploaded so far; a cancel (or a new load) stops between tensors, freeing what was uploaded.
    const weights = await loadWeights(ctx, file, {
      onBytes: (done, total) => progress('uploading weights', done, total),
      checkCancel: () => signal.throwIfAborted(),
      clock,
    });
    const llama = new LlamaModel(ctx, weights);
    this.resident = { ctx, file, weights, llama };
    return { llama, uploaded: { totalMs: performance.now() - t0, phases: { ...clock.ms } } };
  }

  private freeWeights(): void {
    // A kept training run that borrows these weights goes first.
    if (this.training.trained?.borrowsWeights) this.training.keep(null);
    this.resident?.weights.destroy();
    this.resident = null;
  }

  /** Wait for every earlier job; resolves with the function that lets the next one go. */
  private takeTurn(): Promise<() => void> {
    let release!: () => void;
    const done = new Promise<void>((r) => (release = r));
    const before = this.turn;
    this.turn = before.then(() => done);
    return before.then(() => release);
  }
}

interface Loss {
  /** Rejects with `error` once the device is lost; never settles otherwise. */
  promise: Promise<never>;
  error: GpuDeviceLostError | null;
}

/** One watcher per device, so jobs do not pile reactions onto ctx.lost. */
const losses = new WeakMap<GpuContext, Loss>();

function lossOf(ctx: GpuContext): Loss {
  let loss = losses.get(ctx);
  if (!loss) {
    const l: Loss = { promise: Promise.resolve() as never, error: null };
    l.promise = ctx.lost.then((e): never => {
      l.error = new GpuDeviceLostError(
        `The GPU was lost (${e.reason}) while the model ran, and the weights on it with it. Run the request again: sub4 starts a new GPU device and uploads the weights again (if it keeps happening, reload the page).`,
        e.reason,
      );
      throw l.error;
    });
    l.promise.catch(() => {});
    losses.set(ctx, l);
    loss = l;
  }
  return loss;
}

/**
 * `work`, unless the device is lost first: then a GpuDeviceLostError in plain
 * words at once (a read-back on a lost device may never settle). A GPU call that
 * failed because the device went away is reported as the loss, which says more.
 */
async function untilLost<T>(ctx: GpuContext, work: Promise<T>): Promise<T> {
  const loss = lossOf(ctx);
  try {
    return await Promise.race([work, loss.promise]);
  } catch (e) {
    throw loss.error ?? e;
  } finally {
    // When the loss wins the race, the job's own failure comes later and is of no interest.
    work.catch(() => {});
  }
}
