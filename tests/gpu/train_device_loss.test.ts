// A lost GPU device mid-run (device.destroy() in Node, on SwiftShader): the run
// gets a new device, uploads the weights again, puts back the last good state
// kept in memory and finishes; at most one step is done twice, and the trained
// state equals an uninterrupted run's byte for byte (PEQA + LoRA on stories260K
// Q4_0). When no device comes back, the last good state is written as a
// checkpoint and a RunDeviceLostError says so; resuming from that checkpoint
// again ends equal to the uninterrupted run.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { GpuUnavailableError } from '../../src/gpu/errors.ts';
import { createNodeGpuContext } from '../../src/gpu/node.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import type { LoadedModel } from '../../src/io/loaded_model.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { createTrainable, type Trainable } from '../../src/model/trainable.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { decodeCheckpoint } from '../../src/train/checkpoint/format.ts';
import type { RunIdentity } from '../../src/train/checkpoint/identity.ts';
import { runWithRecovery, RunDeviceLostError, type RunParts } from '../../src/train/checkpoint/recover.ts';
import { Checkpointer } from '../../src/train/checkpoint/session.ts';
import { LATEST_CHECKPOINT, memoryStore } from '../../src/train/checkpoint/store.ts';
import { buildDataset, type PreparedDataset } from '../../src/train/data/index.ts';
import { trainConfig } from '../../src/train/setup.ts';
import { encodeTrainedState, type RunInfo } from '../../src/train/state.ts';
import { Trainer, type TrainEvent } from '../../src/train/trainer.ts';

const q4 = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');
const shakespeare = fixture('data/tinyshakespeare/input.txt');

const STEPS = 6;
const identity: RunIdentity = { model: { name: 'm', format: 'gguf', bytes: 1, tensors: 1, sha256: '0' }, data: [] };
const info: RunInfo = {
  method: 'peqa+lora', quant: null, base: { path: 'q4', name: 'q4' }, data: { file: 'input.txt', bytes: 0 },
  seed: 1, steps: STEPS, batch: 2, seqLen: 32, lr: 1e-3, perplexity: { before: null, after: null }, losses: { first: null, last: null },
};

function builder(m: LoadedModel, ds: PreparedDataset) {
  const { cfg } = trainConfig(m, 'peqa+lora', 2, 2, 1, false);
  return async (ctx: GpuContext): Promise<RunParts & { tr: Trainable }> => {
    const weights = await loadWeights(ctx, m);
    const model = new LlamaModel(ctx, weights);
    const tr = await createTrainable(model, m, cfg);
    const trainer = new Trainer(model, tr, ds, { batch: 2, steps: STEPS, evalEvery: 2, evalWindows: 2, schedule: { kind: 'cosine', peak: 1e-3, warmupSteps: 1, totalSteps: STEPS, floor: 1e-4 } });
    return { trainer, tr, destroy: () => [trainer, tr, weights].forEach((x) => x.destroy()) };
  };
}

interface Outcome {
  steps: number[];
  trained: Uint8Array;
  evalAfter: number;
  recoveries: number;
}

describe.skipIf(!q4 || !shakespeare)('device loss mid-run', () => {
  it('continues on a new device from the last good step; equal to an uninterrupted run; no device back: resumable', { timeout: 240_000 }, async () => {
    const m = await openModelPath(q4!);
    try {
      const ds = buildDataset(readFileSync(shakespeare!, 'utf8').slice(0, 12000), 'input.txt', m.tokenizer!, { seqLen: 32, seed: 1 });
      const build = builder(m, ds);
      /** A run; `loseAt`: destroy the device when that step's event arrives (before its state is captured). */
      const go = async (o: { loseAt?: number; noDeviceBack?: boolean; store?: ReturnType<typeof memoryStore>; resume?: Uint8Array }): Promise<Outcome> => {
        const store = o.store ?? memoryStore();
        const checkpointer = new Checkpointer({ store, settings: {}, identity, everySteps: 0 });
        const first = await createNodeGpuContext();
        let lost = false;
        const steps: number[] = [];
        const onEvent = (e: TrainEvent) => {
          if (e.type !== 'step') return;
          steps.push(e.step);
          if (e.step === o.loseAt && !lost) {
            lost = true;
            first.device.destroy();
          }
        };
        const newContext = async () => {
          if (o.noDeviceBack) throw new GpuUnavailableError('WebGPU found no usable GPU adapter (test)');
          return createNodeGpuContext();
        };
        const resume = o.resume ? { state: await decodeCheckpoint(o.resume, 'checkpoint'), file: 'checkpoint' } : null;
        const r = await runWithRecovery({ build, newContext, checkpointer }, { ctx: first, parts: await build(first), resume }, onEvent);
        try {
          const state = await encodeTrainedState((r.parts as RunParts & { tr: Trainable }).tr, info);
          return { steps, trained: state.safetensors, evalAfter: r.summary.after!.evalLoss, recoveries: r.recoveries };
        } finally {
          r.parts.destroy();
          r.ctx.destroy();
        }
      };

      const whole = await go({});
      expect(whole.steps).toEqual([1, 2, 3, 4, 5, 6]);
      expect(whole.recoveries).toBe(0);

      const lost = await go({ loseAt: 3 });
      expect(lost.recoveries).toBe(1);
      // Step 3's event came before its state was captured, so step 3 is the one step done twice.
      expect(lost.steps).toEqual([1, 2, 3, 3, 4, 5, 6]);
      expect(Buffer.compare(lost.trained, whole.trained)).toBe(0);
      expect(lost.evalAfter).toBe(whole.evalAfter);

      const store = memoryStore();
      const err = await go({ loseAt: 5, noDeviceBack: true, store }).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(RunDeviceLostError);
      expect((err as RunDeviceLostError).message).toMatch(/^The GPU device was lost \(destroyed: device was destroyed\.\) and no new GPU device could be created \(WebGPU found no usable GPU adapter \(test\)\)\. The run is saved at step 4 in memory\/checkpoint\.safetensors/);
      expect((err as RunDeviceLostError).step).toBe(4);
      const saved = store.blobs.get(LATEST_CHECKPOINT)!;
      expect((await decodeCheckpoint(saved, 'checkpoint')).progress.step).toBe(4);
      const resumed = await go({ resume: saved });
      expect(resumed.steps).toEqual([5, 6]);
      expect(Buffer.compare(resumed.trained, whole.trained)).toBe(0);
    } finally {
      await m.close();
    }
  });
});
