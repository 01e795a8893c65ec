// The studio's figures against whole Trainer runs (evaluation before and after,
// a greedy sample before and after, the steps between): the model card's
// training memory (modelFacts, the studio's default run: batch 4 × seq 128,
// LoRA rank 8, AdamW) and the training panel's plan (planStep with the run's
// sample length) must bound the run's measured peak, within 10 %. The model is
// tiny but has the SmolLM2 tokenizer's vocabulary (49,152, tied embeddings), as
// the studio's first LoRA run that measured 38.6 MiB against a 25.9 MiB figure:
// there the 256-row evaluation chunk of logits and the evaluation's own
// activations, uncounted, dominate.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { boundLine } from '../helpers/planner_case.ts';
import { base, synthetic } from './model_synthetic.ts';
import { ledgerOf } from '../../src/gpu/buffers.ts';
import type { LoadedModel } from '../../src/io/loaded_model.ts';
import { modelFacts } from '../../src/model/facts.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { planStep, storageOf } from '../../src/model/planner.ts';
import { createTrainable, type TrainConfig } from '../../src/model/trainable.ts';
import { loadWeights } from '../../src/model/weights.ts';
import type { Windows } from '../../src/train/data/pack.ts';
import { Trainer } from '../../src/train/trainer.ts';

const SMOL_VOCAB = { ...base, vocabSize: 49152, hiddenSize: 64, intermediateSize: 128, numHeads: 4, numKvHeads: 2, headDim: 16, tieWordEmbeddings: true, maxPositions: 512 };

function windows(count: number, T: number, V: number, seed: number): Windows {
  const inputs = Uint32Array.from({ length: count * T }, (_, i) => (i * 7919 + seed) % V);
  const targets = Uint32Array.from({ length: count * T }, (_, i) => (i * 104729 + seed) % V);
  return { seqLen: T, count, inputs, targets, mask: new Uint32Array(count * T).fill(1), segment: new Uint32Array(count * T).fill(1), lossTokens: count * T, padTokens: 0 };
}

/** The ledger's peak over a Trainer run (from before the weights were loaded). */
async function runPeak(m: LoadedModel, train: TrainConfig, B: number, T: number, prompt: number[], sampleTokens: number): Promise<number> {
  const ctx = await gpu();
  const ledger = ledgerOf(ctx);
  const live0 = ledger.live;
  const weights = await loadWeights(ctx, m);
  const model = new LlamaModel(ctx, weights);
  const tr = await createTrainable(model, m, train);
  const V = m.config.vocabSize;
  const trainer = new Trainer(model, tr, { train: windows(2 * B, T, V, 1), eval: windows(B, T, V, 2) }, {
    batch: B, steps: 1, schedule: { kind: 'constant', peak: 1e-3, warmupSteps: 0 }, samplePrompts: [prompt], sampleTokens,
  });
  try {
    const r = await trainer.run();
    expect(r.steps).toBe(1);
    return r.peakGpuBytes - live0;
  } finally {
    [trainer, tr, weights].forEach((x) => x.destroy());
  }
}

describe('the studio’s training memory figures vs whole Trainer runs', () => {
  it('tiny model with the SmolLM2 vocabulary: the model card’s LoRA figure (batch 4 × seq 128, rank 8) bounds the run', { timeout: 600_000 }, async () => {
    const m = synthetic(SMOL_VOCAB, 5);
    const card = modelFacts(m).trainingMemory;
    expect([card.batch, card.seq]).toEqual([4, 128]);
    const measured = await runPeak(m, { method: 'lora', lora: { rank: 8 } }, 4, 128, [1, 17, 42, 99, 7], 24);
    console.log(boundLine('model card, LoRA r8, SmolLM2 vocabulary, B=4 T=128 run', measured, card.lora.total));
    expect(measured).toBeLessThanOrEqual(card.lora.total);
    expect(card.lora.total).toBeLessThanOrEqual(1.1 * measured);
  });

  it('the training panel’s plan (planStep with the run’s sample length) bounds a run with a long sample', { timeout: 600_000 }, async () => {
    const m = synthetic(SMOL_VOCAB, 6);
    const prompt = Array.from({ length: 40 }, (_, i) => (i * 31 + 3) % SMOL_VOCAB.vocabSize);
    const train: TrainConfig = { method: 'lora', lora: { rank: 4 } };
    const plan = planStep({ config: m.config, storage: storageOf(m), train, B: 1, T: 32, f16: (await gpu()).features.f16, run: { sampleLength: prompt.length + 8 } });
    const measured = await runPeak(m, train, 1, 32, prompt, 8);
    console.log(boundLine('train panel plan, LoRA r4, SmolLM2 vocabulary, B=1 T=32 run, 48-token sample', measured, plan.total));
    expect(measured).toBeLessThanOrEqual(plan.total);
    expect(plan.total).toBeLessThanOrEqual(1.1 * measured);
  });
});
