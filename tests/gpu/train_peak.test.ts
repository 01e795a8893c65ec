// The peak GPU bytes a training run reports are that run's own (issue 21, item 5):
// the device's ledger keeps one peak for its whole life, so a small run after a
// large one reported the large run's figure. Two runs on one device, a batch of 8
// then a batch of 1: the second's peak must be its own, smaller one.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { fixture } from '../helpers/fixtures.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import type { LoadedModel } from '../../src/io/loaded_model.ts';
import { ledgerOf } from '../../src/gpu/buffers.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { createTrainable } from '../../src/model/trainable.ts';
import { buildDataset } from '../../src/train/data/index.ts';
import { Trainer, type TrainSummary } from '../../src/train/trainer.ts';

const modelPath = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');
const dataPath = fixture('data/tinyshakespeare/input.txt');

async function run(m: LoadedModel, ds: ReturnType<typeof buildDataset>, batch: number): Promise<{ summary: TrainSummary; liveAtStart: number; stepBytes: number[] }> {
  const ctx = await gpu();
  const weights = await loadWeights(ctx, m);
  const model = new LlamaModel(ctx, weights);
  const tr = await createTrainable(model, m, { method: 'peqa', peqaTargets: ['q', 'k', 'v', 'o', 'gate', 'up'] });
  const trainer = new Trainer(model, tr, ds, { batch, steps: 2, schedule: { kind: 'constant', peak: 1e-3, warmupSteps: 0 }, evalWindows: 2 });
  const stepBytes: number[] = [];
  try {
    const liveAtStart = ledgerOf(ctx).live;
    const summary = await trainer.run((e) => {
      if (e.type === 'step') stepBytes.push(e.gpuBytes);
    });
    return { summary, liveAtStart, stepBytes };
  } finally {
    trainer.destroy();
    tr.destroy();
    weights.destroy();
  }
}

describe.skipIf(!modelPath || !dataPath)('peak GPU bytes per run', () => {
  it('a smaller run after a larger one reports its own peak', async () => {
    const m = await openModelPath(modelPath!);
    try {
      const text = readFileSync(dataPath!, 'utf8').slice(0, 12000);
      const ds = buildDataset(text, 'input.txt', m.tokenizer!, { seqLen: 32, evalFraction: 0.1, seed: 3 });
      const big = await run(m, ds, 8);
      const small = await run(m, ds, 1);
      console.log(`peak: batch 8 ${big.summary.peakGpuBytes} B, batch 1 ${small.summary.peakGpuBytes} B`);
      // Batch 8 holds 8× the activations of batch 1, so its peak is higher.
      expect(small.summary.peakGpuBytes).toBeLessThan(big.summary.peakGpuBytes);
      // Each peak still covers everything its run held: what was live when it started and after every step.
      for (const r of [big, small]) {
        expect(r.summary.peakGpuBytes).toBeGreaterThanOrEqual(r.liveAtStart);
        expect(r.summary.peakGpuBytes).toBeGreaterThanOrEqual(Math.max(...r.stepBytes));
      }
    } finally {
      await m.close();
    }
  });
});
