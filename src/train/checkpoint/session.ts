// A run's checkpoints, as Trainer.run hooks: after every step the state is
// read into memory (the last good state a lost device goes back to); every N
// steps, or about every minute, and once more when the loop ends (done, Stop,
// early stop), it is written to the store as the latest checkpoint. With
// --early-stop the held-out guard (guard.ts) watches every eval, keeps the
// trainable values of the best one (in memory, inside every checkpoint as
// best/NAME, and as the best checkpoint file), and at the end puts them back so
// the run's result is its best state, not its last.
import type { RunHooks, Trainer } from '../trainer.ts';
import { encodeCheckpoint, decodeCheckpoint, type Checkpoint } from './format.ts';
import { newGuard, observe, type GuardState } from './guard.ts';
import type { RunIdentity } from './identity.ts';
import { captureState, readTensors, restoreBest, restoreState, type RunState } from './run_state.ts';
import { BEST_CHECKPOINT, LATEST_CHECKPOINT, type CheckpointStore } from './store.ts';

export interface CheckpointerOptions {
  store: CheckpointStore;
  /** The caller's run settings, saved in every checkpoint (the CLI rebuilds the run from them). */
  settings: Record<string, unknown>;
  identity: RunIdentity;
  /** Write every this many steps; null: about every `everySeconds` of training; 0: only when the loop ends. */
  everySteps: number | null;
  /** Default 60. */
  everySeconds?: number;
  /** Stop after this many evaluations without a better held-out loss; 0 or absent: off. */
  earlyStop?: number;
  now?: () => number;
  log?: (line: string) => void;
}

/** Default time between checkpoints when no step count is given. */
export const CHECKPOINT_SECONDS = 60;

/**
 * Whether the latest checkpoint is due after `step`: every `everySteps` steps,
 * or (everySteps null) once `everySeconds` have passed since the last write.
 */
export function checkpointDue(everySteps: number | null, everySeconds: number, step: number, msSinceWrite: number): boolean {
  return everySteps === null ? msSinceWrite >= everySeconds * 1000 : everySteps > 0 && step % everySteps === 0;
}

const BEST = 'best/';
const PARAM = 'param/';

/** The latest checkpoint in a store, or null when it holds none. */
export async function readCheckpoint(store: CheckpointStore, name = LATEST_CHECKPOINT): Promise<Checkpoint | null> {
  const bytes = await store.read(name);
  return bytes ? decodeCheckpoint(bytes, store.describe(name)) : null;
}

export class Checkpointer {
  private last: RunState | null = null;
  private resumed: RunState | null = null;
  private guard: GuardState | null;
  /** Trainable values at the best eval, by param/NAME. */
  private best: Map<string, Float32Array> | null = null;
  private initial: Map<string, Float32Array> | null = null;
  private lastWrite = 0;
  private readonly now: () => number;
  /** Steps written as the latest checkpoint, in order (tests and logs). */
  readonly written: number[] = [];

  constructor(readonly opts: CheckpointerOptions) {
    const n = opts.everySteps;
    if (n !== null && !(Number.isInteger(n) && n >= 0)) throw new RangeError(`checkpoints: every ${n} steps is not an integer ≥ 0`);
    this.guard = opts.earlyStop ? newGuard(opts.earlyStop) : null;
    this.now = opts.now ?? (() => performance.now());
  }

  /** The state after the last finished step (null before the first, in a fresh run). */
  get lastGood(): RunState | null {
    return this.last;
  }

  get guardState(): Readonly<GuardState> | null {
    return this.guard;
  }

  /** A fresh run on `trainer`: remembers the starting values (the guard's baseline). */
  async begin(trainer: Trainer): Promise<void> {
    this.resumed = null;
    this.lastWrite = this.now();
    if (this.guard && !this.initial) {
      const params = trainer.optimizer.stateTensors().filter((s) => s.key.startsWith(PARAM));
      const values = await readTensors(params.map((s) => s.tensor));
      this.initial = new Map(params.map((s, i) => [s.key, values[i]]));
    }
  }

  /** Continue from `state` (a checkpoint, or the last good state after a lost device) on a trainer built alike. */
  resume(trainer: Trainer, state: RunState, file: string): void {
    restoreState(trainer, state, file);
    const g = state.progress.guard;
    if (this.guard && g) this.guard = { ...g, patience: this.guard.patience };
    const best = [...state.tensors].filter(([k]) => k.startsWith(BEST));
    if (best.length) this.best = new Map(best.map(([k, v]) => [PARAM + k.slice(BEST.length), v]));
    this.last = state;
    this.resumed = state;
    this.lastWrite = this.now();
  }

  /** The hooks for Trainer.run on `trainer`. */
  hooks(trainer: Trainer): RunHooks {
    const p = this.resumed?.progress;
    return {
      resumed: p && { before: p.before, losses: p.losses, samples: p.samples },
      afterStep: async (at) => {
        let verdict: 'best' | 'stop' | 'go' = 'go';
        this.baseline(at.before);
        if (this.guard && at.eval) verdict = observe(this.guard, at.step.step, at.eval.evalLoss);
        const state = await this.capture(trainer, at, verdict === 'best');
        this.last = state;
        if (verdict === 'best') await this.write(state, BEST_CHECKPOINT);
        if (checkpointDue(this.opts.everySteps, this.opts.everySeconds ?? CHECKPOINT_SECONDS, at.step.step, this.now() - this.lastWrite)) await this.write(state, LATEST_CHECKPOINT);
        if (verdict === 'stop') this.opts.log?.(`held-out loss has not improved for ${this.guard!.patience} evaluations (best ${this.guard!.best} at step ${this.guard!.bestStep}); stopping`);
        return verdict === 'stop' ? 'stop' : undefined;
      },
      beforeFinal: async (at) => {
        this.baseline(at.before);
        const state = await this.capture(trainer, at, false);
        this.last = state;
        // Nothing changed since the step's own checkpoint: no second write of the same state.
        if (this.written.at(-1) !== state.progress.step) await this.write(state, LATEST_CHECKPOINT);
        if (this.guard && this.best && this.guard.bestStep !== state.progress.step) {
          restoreBest(trainer, this.best);
          this.opts.log?.(`held-out guard: the best held-out loss (${this.guard.best}) was at step ${this.guard.bestStep}; the run ends with that step's trained values`);
        }
      },
    };
  }

  /** Write a state (e.g. the last good one when no device comes back) as the latest checkpoint. */
  async saveLatest(state: RunState): Promise<string> {
    await this.write(state, LATEST_CHECKPOINT);
    return this.opts.store.describe(LATEST_CHECKPOINT);
  }

  /** The eval before training is the guard's first: a run that never beats it ends on its starting values. */
  private baseline(before: { evalLoss: number } | null): void {
    if (!this.guard || this.guard.best !== null || !before) return;
    observe(this.guard, 0, before.evalLoss);
    this.best = this.initial;
  }

  private async capture(trainer: Trainer, at: Parameters<NonNullable<RunHooks['beforeFinal']>>[0], isBest: boolean): Promise<RunState> {
    const state = await captureState(trainer, { before: at.before, losses: [...at.losses], samples: [...at.samples], guard: this.guard && { ...this.guard } });
    if (isBest) this.best = new Map([...state.tensors].filter(([k]) => k.startsWith(PARAM)));
    for (const [k, v] of this.best ?? []) state.tensors.set(BEST + k.slice(PARAM.length), v);
    return state;
  }

  private async write(state: RunState, name: string): Promise<void> {
    const bytes = await encodeCheckpoint({ settings: this.opts.settings, identity: this.opts.identity, ...state });
    await this.opts.store.write(name, bytes);
    if (name === LATEST_CHECKPOINT) {
      this.lastWrite = this.now();
      this.written.push(state.progress.step);
    }
    this.opts.log?.(`${name === BEST_CHECKPOINT ? 'best checkpoint' : 'checkpoint'} at step ${state.progress.step} → ${this.opts.store.describe(name)}`);
  }
}
