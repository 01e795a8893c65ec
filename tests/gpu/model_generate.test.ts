// generate() on a synthetic model: greedy decoding through the KV cache equals
// greedy decoding by the f64 reference re-running the whole sequence each step;
// stop ids end generation (not emitted), the cache capacity ends it with
// 'context', a seeded sampler replays exactly, and onToken sees every token in order.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { validateConfig } from '../../src/arch/config.ts';
import { generate } from '../../src/model/generate.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { argmax } from '../../src/model/sampling.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { GgmlType } from '../../src/quant/formats.ts';
import { base, refLogits, synthetic } from './model_synthetic.ts';

const cfg = validateConfig({ ...base, slidingWindow: 6 }, 'generate');

async function setup() {
  const ctx = await gpu();
  const file = synthetic(cfg, 21, { gate: GgmlType.Q4_0, lm_head: GgmlType.Q8_0 });
  const weights = await loadWeights(ctx, file);
  return { file, model: new LlamaModel(ctx, weights), done: () => weights.destroy() };
}

describe('generate', () => {
  it('greedy through the KV cache equals the reference re-run on the whole sequence', async () => {
    const { file, model, done } = await setup();
    const prompt = [1, 17, 42, 5];
    const seen: number[] = [];
    const r = await generate(model, prompt, { maxTokens: 10, temperature: 0, stopIds: [], onToken: (id, i) => seen.push(id, i) });
    done();
    const want: number[] = [];
    const seq = [...prompt];
    for (let n = 0; n < 10; n++) {
      const z = await refLogits(file, seq, 1, seq.length);
      const id = argmax(z.subarray((seq.length - 1) * cfg.vocabSize));
      want.push(id);
      seq.push(id);
    }
    expect(r.tokens).toEqual(want);
    expect(r.stop).toBe('length');
    expect(seen).toEqual(want.flatMap((id, i) => [id, i]));
  });

  it('stops at a stop id, at the cache capacity, and after 0 tokens', async () => {
    const { model, done } = await setup();
    const prompt = [1, 9, 9];
    const free = await generate(model, prompt, { maxTokens: 6, temperature: 0, stopIds: [] });
    const eos = await generate(model, prompt, { maxTokens: 6, temperature: 0, stopIds: [free.tokens[2]] });
    expect(eos.stop).toBe('eos');
    expect(eos.tokens).toEqual(free.tokens.slice(0, free.tokens.indexOf(free.tokens[2])));
    const ctxStop = await generate(model, prompt, { maxTokens: 6, temperature: 0, stopIds: [], maxContext: 5 });
    expect(ctxStop.stop).toBe('context');
    expect(ctxStop.tokens).toEqual(free.tokens.slice(0, 3)); // positions 3, 4 fill the cache; the token sampled after them ends it
    expect((await generate(model, prompt, { maxTokens: 0, temperature: 0 })).tokens).toEqual([]);
    await expect(generate(model, [], { maxTokens: 1, temperature: 0 })).rejects.toThrow(/prompt has no tokens/);
    done();
  });

  it('a seeded sampler replays exactly; another seed differs', async () => {
    const { model, done } = await setup();
    const opts = { maxTokens: 12, temperature: 1.5, topK: 20, topP: 0.95, stopIds: [] };
    const a = await generate(model, [1, 3], { ...opts, seed: 5 });
    const b = await generate(model, [1, 3], { ...opts, seed: 5 });
    const c = await generate(model, [1, 3], { ...opts, seed: 6 });
    done();
    expect(b.tokens).toEqual(a.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
  });
});
