// Training really happens on instruction data: stories260K Q4_0 with PEQA on
// the first rows of ../shared/data/alpaca/alpaca_5000.json (the Alpaca prompt
// template, loss only on the response tokens and EOS). The windows' masks
// cover the responses only (far fewer loss tokens than tokens), the training
// loss over those tokens falls, and so does the held-out response loss.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { fixture } from '../helpers/fixtures.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { createTrainable } from '../../src/model/trainable.ts';
import { buildDataset } from '../../src/train/data/index.ts';
import { Trainer } from '../../src/train/trainer.ts';

const modelPath = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');
const dataPath = fixture('data/alpaca/alpaca_5000.json');

describe.skipIf(!modelPath || !dataPath)('PEQA on Alpaca (response-only loss)', () => {
  it('masks prompts out and lowers the response loss', async () => {
    const m = await openModelPath(modelPath!);
    const rows = JSON.parse(readFileSync(dataPath!, 'utf8')) as unknown[];
    const text = JSON.stringify(rows.slice(0, 300));
    const ds = buildDataset(text, 'alpaca_5000.json', m.tokenizer!, { seqLen: 64, evalFraction: 0.1, seed: 1 });
    const ctx = await gpu();
    const weights = await loadWeights(ctx, m);
    const model = new LlamaModel(ctx, weights);
    const tr = await createTrainable(model, m, { method: 'peqa', peqaTargets: ['q', 'k', 'v', 'o', 'gate', 'up'] });
    const trainer = new Trainer(model, tr, ds, { batch: 4, steps: 45, schedule: { kind: 'constant', peak: 1e-3, warmupSteps: 2 }, evalWindows: 16 });
    try {
      expect(ds.parsed.kind).toBe('instruction');
      const c = ds.counts;
      console.log(`alpaca: ${c.examples} examples, ${c.tokens} tokens, ${c.lossTokens} in the loss, ${c.trainWindows} train windows`);
      expect(c.lossTokens).toBeLessThan(0.8 * c.tokens);
      expect(c.lossTokens).toBeGreaterThan(0.1 * c.tokens);
      const s = await trainer.run(() => {});
      const L = s.losses;
      const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
      // Batch losses swing with the examples drawn (0.3–0.5 nats step to step here), so the train trend is judged
      // over thirds of the run, and the decisive figure is the held-out response loss on fixed windows.
      const third = L.length / 3;
      console.log(`alpaca PEQA: train response loss ${mean(L.slice(0, third)).toFixed(4)} (first third) → ${mean(L.slice(-third)).toFixed(4)} (last third); held-out ${s.before!.evalLoss.toFixed(4)} → ${s.after!.evalLoss.toFixed(4)}`);
      expect(s.stop).toBe('done');
      expect(mean(L.slice(-third))).toBeLessThan(mean(L.slice(0, third)));
      expect(s.after!.evalLoss).toBeLessThan(s.before!.evalLoss - 0.1);
    } finally {
      trainer.destroy();
      tr.destroy();
      weights.destroy();
      await m.close();
    }
  }, 240_000);
});
