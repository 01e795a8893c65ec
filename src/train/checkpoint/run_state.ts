// A run's whole state on the CPU: the optimizer's tensors (trainable values,
// AdamW moments, the rollback snapshot) plus the counters that place the run —
// step, data cursor, Adam's t and lr factor, the before-eval, losses so far,
// the held-out guard. The data order and LoRA init come from the run's seed
// (no random number is drawn while training), so with the same settings these
// are everything a resumed run needs to step exactly as an uninterrupted one.
// Captured after every step (tensors are small next to the frozen base): on a
// lost device the last of these is put back on a new one.
import type { GpuTensor } from '../../gpu/buffers.ts';
import { submit } from '../../gpu/pipelines.ts';
import type { AdamWCounters } from '../optimizer.ts';
import type { EvalEvent, SampleEvent, Trainer } from '../trainer.ts';
import { CheckpointError } from './errors.ts';
import type { GuardState } from './guard.ts';

export interface RunProgress {
  step: number;
  cursor: number;
  adamw: AdamWCounters;
  before: EvalEvent | null;
  losses: number[];
  samples: SampleEvent[];
  /** The held-out guard (--early-stop), or null when it is off. */
  guard: GuardState | null;
}

export interface RunState {
  progress: RunProgress;
  /** Optimizer tensors by key (AdamW.stateTensors), plus best/NAME: the trainable values at the best eval. */
  tensors: Map<string, Float32Array>;
}

/** Largest staging buffer one readback uses; more is read in several rounds. */
const STAGING_BYTES = 64 * 2 ** 20;

/**
 * Read many f32 tensors with one copy and one map per round, instead of a
 * mapAsync per tensor (hundreds of them per step would cost more than the step).
 */
export async function readTensors(tensors: readonly GpuTensor<'f32'>[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  let i = 0;
  while (i < tensors.length) {
    const ctx = tensors[i].ctx;
    const batch: GpuTensor<'f32'>[] = [];
    let bytes = 0;
    while (i < tensors.length && (batch.length === 0 || bytes + tensors[i].size * 4 <= STAGING_BYTES)) {
      batch.push(tensors[i]);
      bytes += tensors[i++].size * 4;
    }
    const staging = ctx.device.createBuffer({ size: Math.max(4, bytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      const enc = ctx.device.createCommandEncoder();
      let o = 0;
      for (const t of batch) {
        if (t.size > 0) enc.copyBufferToBuffer(t.buffer, 0, staging, o, t.size * 4);
        o += t.size * 4;
      }
      submit(ctx, enc);
      await staging.mapAsync(GPUMapMode.READ);
      const all = new Float32Array(staging.getMappedRange().slice(0));
      o = 0;
      for (const t of batch) {
        out.push(all.slice(o, o + t.size));
        o += t.size;
      }
      staging.unmap();
    } finally {
      staging.destroy();
    }
  }
  return out;
}

/** The trainer's state now, read off the GPU; `extra` is what run() knows (before, losses, samples, guard). */
export async function captureState(trainer: Trainer, extra: Omit<RunProgress, 'step' | 'cursor' | 'adamw'>): Promise<RunState> {
  const list = trainer.optimizer.stateTensors();
  const values = await readTensors(list.map((s) => s.tensor));
  const tensors = new Map(list.map((s, i) => [s.key, values[i]]));
  const { step, cursor } = trainer.position;
  return { progress: { step, cursor, adamw: trainer.optimizer.counters, before: extra.before, losses: [...extra.losses], samples: [...extra.samples], guard: extra.guard }, tensors };
}

/** Put a state back into a trainer built with the same settings (every tensor checked before any write). */
export function restoreState(trainer: Trainer, state: RunState, file: string): void {
  const list = trainer.optimizer.stateTensors();
  for (const s of list) {
    const t = state.tensors.get(s.key);
    if (!t) throw new CheckpointError(file, `has no tensor ${s.key}, which this run's optimizer holds (a checkpoint of other settings?)`);
    if (t.length !== s.tensor.size) throw new CheckpointError(file, `tensor ${s.key} holds ${t.length} values; this run's has ${s.tensor.size}`);
  }
  for (const s of list) s.tensor.write(state.tensors.get(s.key)!);
  trainer.optimizer.restoreCounters(state.progress.adamw);
  trainer.setPosition(state.progress);
  trainer.trainable.apply();
}

/** Write the trainable values of `best/NAME` (the best eval's) over the current ones. */
export function restoreBest(trainer: Trainer, best: ReadonlyMap<string, Float32Array>): void {
  for (const s of trainer.optimizer.stateTensors()) {
    if (!s.key.startsWith('param/')) continue;
    const t = best.get(s.key);
    if (t && t.length === s.tensor.size) s.tensor.write(t);
  }
  trainer.trainable.apply();
}
