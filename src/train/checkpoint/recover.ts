// A run that survives a lost GPU device. Trainer.run fails when the device is
// lost mid-step (a readback rejects; after the first step Trainer.run ends the
// run 'failed' instead of throwing, which counts the same); if the context's `lost` promise has
// resolved, this asks for a new device, builds the run on it again (weights
// uploaded anew, trainer and optimizer fresh), puts back the last good state the
// Checkpointer kept in memory after the last finished step, and continues: the
// step that was in flight is the only one done twice. When no device comes back
// (or devices keep being lost), the last good state is written to the store, so
// the run can be resumed later, and a RunDeviceLostError says so.
import type { GpuContext } from '../../gpu/device.ts';
import { Sub4Error } from '../../base/errors.ts';
import type { StopFlag, TrainEvent, TrainSummary, Trainer } from '../trainer.ts';
import { CheckpointWriteError } from './errors.ts';
import type { Checkpointer } from './session.ts';
import type { RunState } from './run_state.ts';

/** What one build of a run on a device is: its trainer and how to free all of it (not the context). */
export interface RunParts {
  trainer: Trainer;
  destroy(): void;
}

export interface RecoveryOptions {
  /** Build the run on a device (upload weights, trainable, trainer). Called again after each loss. */
  build(ctx: GpuContext): Promise<RunParts>;
  /** A new device after a loss (Node: createNodeGpuContext; a worker: requestAdapter again). */
  newContext(): Promise<GpuContext>;
  checkpointer: Checkpointer;
  /** Give up after this many losses in one run; default 3. */
  maxRecoveries?: number;
  /** How long to wait for `lost` after a failed step before treating the failure as an ordinary error; default 2000 ms. */
  lostWaitMs?: number;
  log?: (line: string) => void;
}

/** The device was lost and the run could not go on here; the message says where its last good state is. */
export class RunDeviceLostError extends Sub4Error {
  constructor(
    message: string,
    readonly step: number,
    readonly savedTo: string | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Resolves true once `ctx.lost` has resolved, false after `ms`. */
function lostWithin(ctx: GpuContext, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    void ctx.lost.then(() => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

export interface RecoveredRun {
  summary: TrainSummary;
  /** The context and parts the run ended on (new ones after a loss): the caller frees them. */
  ctx: GpuContext;
  parts: RunParts;
  recoveries: number;
}

/**
 * Run `parts.trainer` to the end on `ctx`, starting fresh or from `resume`
 * (a checkpoint's state), recovering from lost devices. Takes ownership of
 * ctx and parts: on success the ones in use are returned, on failure they are freed.
 */
export async function runWithRecovery(
  opts: RecoveryOptions,
  start: { ctx: GpuContext; parts: RunParts; resume: { state: RunState; file: string } | null },
  onEvent?: (e: TrainEvent) => void,
  stop?: StopFlag,
): Promise<RecoveredRun> {
  const ck = opts.checkpointer;
  let ctx: GpuContext = start.ctx;
  // Null while no build is alive (between a loss and the next build), so nothing is freed twice.
  let parts: RunParts | null = start.parts;
  let recoveries = 0;
  try {
    if (start.resume) ck.resume(parts.trainer, start.resume.state, start.resume.file);
    else await ck.begin(parts.trainer);
    for (;;) {
      try {
        const summary = await parts!.trainer.run(onEvent, stop, ck.hooks(parts!.trainer));
        // A device lost inside a step (not between steps) ends Trainer.run 'failed' with the steps before kept:
        // that is a loss to recover from too, not the run's end.
        if (summary.stop === 'failed' && (await lostWithin(ctx, opts.lostWaitMs ?? 2000)))
          throw new Error(`step ${summary.steps + 1} failed on a lost device: ${summary.failure?.message ?? 'no message'}`);
        return { summary, ctx, parts, recoveries };
      } catch (e) {
        // A failed write is the disk's trouble, not the device's: no wait for `lost`.
        if (e instanceof CheckpointWriteError || !(await lostWithin(ctx, opts.lostWaitMs ?? 2000))) throw e;
        const good = ck.lastGood;
        const at = good ? `step ${good.progress.step}` : 'the start';
        parts!.destroy();
        parts = null;
        ctx.destroy();
        recoveries++;
        const lost = await ctx.lost;
        const cause = `The GPU device was lost (${lost.reason}: ${lost.message.replace(/^.*?\): /, '').replace(/ Reload to start a new device\.$/, '')})`;
        let next: GpuContext | undefined;
        let why = `and was lost ${recoveries} times in this run`;
        if (recoveries <= (opts.maxRecoveries ?? 3)) {
          try {
            next = await opts.newContext();
          } catch (err) {
            why = `and no new GPU device could be created (${(err as Error).message})`;
          }
        }
        if (!next) throw await giveUp(ck, good, `${cause} ${why}`, e);
        opts.log?.(`${cause}; continuing on a new device from ${at}`);
        ctx = next;
        parts = await opts.build(ctx);
        if (good) ck.resume(parts.trainer, good, 'the last good state in memory');
        else await ck.begin(parts.trainer);
      }
    }
  } catch (e) {
    parts?.destroy();
    ctx.destroy(); // destroying a device twice is allowed
    throw e;
  }
}

/** Save the last good state so the run stays resumable, and say where. */
async function giveUp(ck: Checkpointer, good: RunState | null, why: string, cause: unknown): Promise<RunDeviceLostError> {
  const step = good?.progress.step ?? 0;
  if (!good) return new RunDeviceLostError(`${why}. No step had finished, so there is nothing to resume: start the run again`, 0, null, { cause });
  try {
    const file = await ck.saveLatest(good);
    return new RunDeviceLostError(`${why}. The run is saved at step ${step} in ${file} and can be resumed from there`, step, file, { cause });
  } catch (err) {
    return new RunDeviceLostError(`${why}; saving the run at step ${step} failed too (${(err as Error).message}); the last checkpoint written before is kept`, step, null, { cause });
  }
}
