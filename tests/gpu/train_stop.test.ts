// How a run ends early (issue 21): a step that throws after others were applied
// ends the run as 'failed' with what was trained kept and scored, as Stop does
// (item 1: the Alpaca run that died at step 13 lost its 12 steps); and Stop
// before the first step cuts the evaluation or sampling in progress within one
// batch and skips the after-run evaluation and samples (item 8: Stop during the
// first evaluation ran a second full evaluation and sampling). stories260K Q4_0,
// PEQA, a slice of Tiny Shakespeare.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { fixture } from '../helpers/fixtures.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { createTrainable } from '../../src/model/trainable.ts';
import { buildDataset } from '../../src/train/data/index.ts';
import type { Windows } from '../../src/train/data/pack.ts';
import { Trainer, type TrainEvent, type TrainerOptions } from '../../src/train/trainer.ts';

const modelPath = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');
const dataPath = fixture('data/tinyshakespeare/input.txt');
const B = 2;
const T = 32;

/** A trainer on fresh weights; `fn` gets it and the model; everything is freed after. */
async function withTrainer(data: (ds: ReturnType<typeof buildDataset>) => { train: Windows; eval: Windows }, opts: Partial<TrainerOptions>, fn: (t: Trainer, model: LlamaModel) => Promise<void>) {
  const m = await openModelPath(modelPath!);
  const ds = buildDataset(readFileSync(dataPath!, 'utf8').slice(0, 12000), 'input.txt', m.tokenizer!, { seqLen: T, evalFraction: 0.1, seed: 3 });
  const ctx = await gpu();
  const weights = await loadWeights(ctx, m);
  const model = new LlamaModel(ctx, weights);
  const tr = await createTrainable(model, m, { method: 'peqa', peqaTargets: ['q', 'k', 'v', 'o', 'gate', 'up'] });
  const trainer = new Trainer(model, tr, data(ds), { batch: B, steps: 5, schedule: { kind: 'constant', peak: 1e-3, warmupSteps: 0 }, evalWindows: 8, ...opts });
  try {
    await fn(trainer, model);
  } finally {
    trainer.destroy();
    tr.destroy();
    weights.destroy();
    await m.close();
  }
}

/** Counts the model's forwards: eval batches (B·T tokens) and sample tokens (shorter), calling `on` before each. */
function countForwards(model: LlamaModel, on: (kind: 'eval' | 'sample') => void) {
  const n = { eval: 0, sample: 0 };
  const forward = model.forward.bind(model);
  model.forward = ((acts, ids, o) => {
    const kind = ids.length === B * T ? 'eval' : 'sample';
    on(kind);
    n[kind]++;
    return forward(acts, ids, o);
  }) as typeof model.forward;
  return n;
}

describe.skipIf(!modelPath || !dataPath)('runs that end early', () => {
  it('a step that throws after two applied ones ends the run as failed, keeping and scoring the two', async () => {
    // Step 3's two windows (4 and 5, in order) have no token in the loss: trainStep refuses them.
    const broken = (ds: ReturnType<typeof buildDataset>) => {
      const mask = ds.train.mask.slice();
      mask.fill(0, 4 * T, 6 * T);
      return { train: { ...ds.train, mask }, eval: ds.eval };
    };
    await withTrainer(broken, { samplePrompts: [[1, 400]], sampleTokens: 3 }, async (t) => {
      const events: TrainEvent[] = [];
      const s = await t.run((e) => events.push(e));
      console.log(`failed run: ${s.steps} steps, ${s.failure?.name}: ${s.failure?.message}; held-out ${s.before?.evalLoss.toFixed(4)} → ${s.after?.evalLoss.toFixed(4)}`);
      expect(s.stop).toBe('failed');
      expect(s.steps).toBe(2);
      expect(s.losses).toHaveLength(2);
      expect(s.failure?.message).toContain('step 3');
      expect(s.after).not.toBeNull();
      expect(s.after!.step).toBe(2);
      expect(s.after!.evalLoss).not.toBe(s.before!.evalLoss); // the two steps moved θ, and the score says so
      expect(s.samples.map((x) => x.when)).toEqual(['before', 'after']);
      expect(events.filter((e) => e.type === 'step')).toHaveLength(2);
    });
  }, 120_000);

  it('a step that throws before any was applied fails the run (nothing to keep)', async () => {
    const broken = (ds: ReturnType<typeof buildDataset>) => ({ train: { ...ds.train, mask: ds.train.mask.slice().fill(0, 0, 2 * T) }, eval: ds.eval });
    await withTrainer(broken, {}, async (t) => {
      await expect(t.run()).rejects.toThrow(/step 1 has no token/);
      expect(t.step).toBe(0);
    });
  }, 120_000);

  it('Stop during the first evaluation ends it within one batch, and nothing runs after', async () => {
    await withTrainer((ds) => ds, { samplePrompts: [[1, 400]], sampleTokens: 3 }, async (t, model) => {
      const flag = { aborted: false };
      const n = countForwards(model, (kind) => {
        if (kind === 'eval') flag.aborted = true; // pressed while the first eval batch runs
      });
      const events: TrainEvent[] = [];
      const s = await t.run((e) => events.push(e), flag);
      console.log(`stopped in the first evaluation: ${n.eval} eval batches, ${n.sample} sample forwards; events ${events.map((e) => e.type + ('when' in e ? `:${e.when}` : '')).join(', ')}`);
      expect(n.eval).toBe(1);
      expect(s).toMatchObject({ stop: 'stopped', steps: 0, before: null, after: null, losses: [] });
      expect(events.map((e) => e.type)).toEqual(['sample']); // the before sample, done before Stop; no eval, no after sample
      expect(s.samples.map((x) => x.when)).toEqual(['before']);
    });
  }, 120_000);

  it('Stop during the first sample ends it within one token, with no evaluation', async () => {
    await withTrainer((ds) => ds, { samplePrompts: [[1, 400]], sampleTokens: 3 }, async (t, model) => {
      const flag = { aborted: false };
      const n = countForwards(model, () => (flag.aborted = true));
      const events: TrainEvent[] = [];
      const s = await t.run((e) => events.push(e), flag);
      expect(n).toEqual({ eval: 0, sample: 1 });
      expect(events).toEqual([]);
      expect(s).toMatchObject({ stop: 'stopped', steps: 0, before: null, after: null, samples: [] });
    });
  }, 120_000);
});
