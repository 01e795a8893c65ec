// Trained state save/load (src/train/state.ts) with LoRA on the dense f32
// stories260K: train a few steps, encode manifest + safetensors, decode, load
// into a fresh trainable on freshly loaded weights, and the held-out loss is
// bit-identical to the trained run's. A state that does not match the
// configuration, or a manifest that is not one, is a TrainedStateError.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { fixture } from '../helpers/fixtures.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { createTrainable, type TrainConfig } from '../../src/model/trainable.ts';
import { buildDataset } from '../../src/train/data/index.ts';
import { decodeTrainedState, encodeTrainedState, loadTrainedState, TrainedStateError, type RunInfo } from '../../src/train/state.ts';
import { Trainer } from '../../src/train/trainer.ts';

const modelPath = fixture('models/stories260K.gguf');
const dataPath = fixture('data/tinyshakespeare/input.txt');

const info: RunInfo = {
  method: 'lora', quant: null, base: { path: 'stories260K.gguf', name: 'stories260K.gguf' }, data: { file: 'input.txt', bytes: 8000 },
  seed: 5, steps: 3, batch: 2, seqLen: 32, lr: 1e-3, perplexity: { before: null, after: null }, losses: { first: null, last: null },
};

describe.skipIf(!modelPath || !dataPath)('trained state round trip (LoRA on dense stories260K)', () => {
  it('saves, reads back and reproduces the held-out loss bit for bit', async () => {
    const ctx = await gpu();
    const m = await openModelPath(modelPath!);
    const ds = buildDataset(readFileSync(dataPath!, 'utf8').slice(0, 8000), 'input.txt', m.tokenizer!, { seqLen: 32, seed: 5 });
    const cfg: TrainConfig = { method: 'lora', lora: { rank: 4, alpha: 8, seed: 5, targets: ['q', 'v', 'down'] } };
    const opts = { batch: 2, steps: 3, evalWindows: 4, schedule: { kind: 'constant' as const, peak: 1e-2, warmupSteps: 0 } };
    const session = async () => {
      const weights = await loadWeights(ctx, m);
      const model = new LlamaModel(ctx, weights);
      const tr = await createTrainable(model, m, cfg);
      const trainer = new Trainer(model, tr, ds, opts);
      return { tr, trainer, done: () => [trainer, tr, weights].forEach((x) => x.destroy()) };
    };
    try {
      const a = await session();
      const summary = await a.trainer.run();
      const state = await encodeTrainedState(a.tr, { ...info, perplexity: { before: summary.before!.evalPpl, after: summary.after!.evalPpl } });
      a.done();
      expect(summary.after!.evalLoss).not.toBe(summary.before!.evalLoss);
      expect(state.manifest.lora).toEqual({ rank: 4, alpha: 8, scale: 2 });
      expect(state.manifest.tensors).toHaveLength(5 * 3 * 2);

      const { manifest, tensors } = await decodeTrainedState(state.json, state.safetensors);
      expect(manifest.perplexity.after).toBe(summary.after!.evalPpl);
      const b = await session();
      try {
        expect((await b.trainer.evaluate())!.evalLoss).toBe(summary.before!.evalLoss); // fresh: B = 0
        loadTrainedState(b.tr, tensors);
        expect((await b.trainer.evaluate())!.evalLoss).toBe(summary.after!.evalLoss);
        const partial = new Map(tensors);
        partial.delete('layers.2.v.lora_a');
        expect(() => loadTrainedState(b.tr, partial)).toThrow(/has no tensor layers\.2\.v\.lora_a/);
      } finally {
        b.done();
      }
      await expect(decodeTrainedState('{"format":"other"}', state.safetensors)).rejects.toThrow(TrainedStateError);
      await expect(decodeTrainedState('not json', state.safetensors)).rejects.toThrow(/is not JSON/);
    } finally {
      await m.close();
    }
  }, 60_000);
});
