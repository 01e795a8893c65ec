// The memory planner (src/model/planner.ts) against the allocation ledger: for
// random-llama-256 quantized by llama.cpp (Q4_0 with a Q6_K head; Q4_K_M mixing
// Q4_K and Q6_K), a real training step (load, trainable state, AdamW, saved
// activations, backward workspace, forward + loss + backward + optimizer step)
// peaks within 10 % of the plan, for three (B, T) and three methods, and for
// PEQA on the F32 model quantized by sub4 (its own weights). Then the
// refusal: limits and a budget the plan cannot fit are named with the figure.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { fixture } from '../helpers/fixtures.ts';
import { ledgerOf } from '../../src/gpu/buffers.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { createTrainable, type TrainConfig } from '../../src/model/trainable.ts';
import { ModelBackward } from '../../src/model/backward.ts';
import { checkPlanFits, planStep, PlanRefusedError, storageOf } from '../../src/model/planner.ts';
import { AdamW } from '../../src/train/optimizer.ts';
import { quantizeModelLinears } from '../../src/train/quantize_model.ts';
import { planStorage } from '../../src/train/setup.ts';

const DIR = 'models/random-llama-256/';
const SETTINGS: [file: string, B: number, T: number, train: TrainConfig, save: true | 'inputs'][] = [
  ['random-llama-256-Q4_0.gguf', 1, 32, { method: 'peqa+lora', lora: { rank: 8 }, norms: true }, true],
  ['random-llama-256-Q4_0.gguf', 2, 64, { method: 'peqa', peqa: 'scale' }, true],
  ['random-llama-256-Q4_K_M.gguf', 1, 128, { method: 'lora', lora: { rank: 16 } }, 'inputs'],
];

describe('memory planner vs the ledger on random-llama-256', () => {
  for (const [file, B, T, train, save] of SETTINGS)
    it(`${file} ${train.method}${save === 'inputs' ? ' (recompute)' : ''} at B=${B} T=${T}: prediction within 10 % of the measured peak`, async () => {
      const path = fixture(DIR + file);
      if (!path) return;
      const ctx = await gpu();
      const m = await openModelPath(path);
      const ledger = ledgerOf(ctx);
      const live0 = ledger.live;
      ledger.resetPeak();
      const plan = planStep({ config: m.config, storage: storageOf(m), train, B, T, save });
      const weights = await loadWeights(ctx, m);
      const model = new LlamaModel(ctx, weights);
      const tr = await createTrainable(model, m, train);
      const opt = new AdamW(ctx, tr.groups());
      const acts = model.activations(B, T, save);
      const bw = new ModelBackward(model, tr, B, T);
      const ids = Array.from({ length: B * T }, (_, i) => (i * 37 + 1) % m.config.vocabSize);
      const targets = ids.map((_, i) => (i % T === T - 1 ? 0xffffffff : ids[i + 1]));
      bw.step(acts, ids, { targets });
      const r = await opt.step({ lr: 1e-3 });
      expect(r.applied).toBe(true);
      expect(Number.isFinite(r.gradNorm) && r.gradNorm > 0).toBe(true);
      const measured = ledger.peak - live0;
      [bw, acts, opt, tr, weights].forEach((x) => x.destroy());
      await m.close();
      expect(ledger.live).toBe(live0);
      const err = (plan.total - measured) / measured;
      if (process.env.SUB4_PRINT_ERRORS)
        console.log(`planner | ${file} | ${train.method}${save === 'inputs' ? '+recompute' : ''} | B=${B} T=${T} | predicted ${plan.total} | measured ${measured} | ${(100 * err).toFixed(2)} % | ${JSON.stringify(plan.parts)}`);
      expect(Math.abs(err)).toBeLessThanOrEqual(0.1);
    });

  it('random-llama-256-F32.gguf quantized by sub4 (4-bit g32), PEQA auto at B=1 T=64: within 10 %, θ as the scale view', async () => {
    const path = fixture(DIR + 'random-llama-256-F32.gguf');
    if (!path) return;
    const ctx = await gpu();
    const m = await openModelPath(path);
    const q = { bits: 4, groupSize: 32 } as const;
    const ledger = ledgerOf(ctx);
    const live0 = ledger.live;
    ledger.resetPeak();
    const plan = (peqa: 'auto' | 'scale' | 'scale+offset') => planStep({ config: m.config, storage: planStorage(m, q), train: { method: 'peqa', peqa }, B: 1, T: 64 });
    // sub4's grids have integer zero points, so 'auto' trains the scales alone (trainable.ts), as 'scale' does.
    expect(plan('auto').parts.trainable).toBe(plan('scale').parts.trainable);
    expect(plan('auto').parts.trainable).toBeLessThan(plan('scale+offset').parts.trainable);
    const weights = await loadWeights(ctx, m, { quantized: await quantizeModelLinears(m, q) });
    const model = new LlamaModel(ctx, weights);
    const tr = await createTrainable(model, m, { method: 'peqa' });
    const opt = new AdamW(ctx, tr.groups());
    const acts = model.activations(1, 64, true);
    const bw = new ModelBackward(model, tr, 1, 64);
    const ids = Array.from({ length: 64 }, (_, i) => (i * 37 + 1) % m.config.vocabSize);
    bw.step(acts, ids, { targets: ids.map((_, i) => (i === 63 ? 0xffffffff : ids[i + 1])) });
    expect((await opt.step({ lr: 1e-3 })).applied).toBe(true);
    const measured = ledger.peak - live0;
    [bw, acts, opt, tr, weights].forEach((x) => x.destroy());
    await m.close();
    const err = (plan('auto').total - measured) / measured;
    expect(Math.abs(err), `predicted ${plan('auto').total}, measured ${measured}`).toBeLessThanOrEqual(0.1);
  });

  it('refuses a run that cannot fit, naming the limit and the predicted figure', async () => {
    const path = fixture(DIR + 'random-llama-256-Q4_0.gguf');
    if (!path) return;
    const ctx = await gpu();
    const m = await openModelPath(path);
    const plan = planStep({ config: m.config, storage: storageOf(m), train: { method: 'lora', lora: { rank: 8 } }, B: 1, T: 64 });
    await m.close();
    expect(checkPlanFits(plan, ctx.limits)).toBe(plan);
    // The token table [512, 256] f32 is the largest buffer (512 KiB); a 256 KiB binding cannot hold it.
    expect(plan.largest).toEqual({ name: 'model.embed_tokens.weight', bytes: 512 * 256 * 4 });
    const small = { maxBufferSize: 1 << 30, maxStorageBufferBindingSize: 1 << 18 };
    expect(() => checkPlanFits(plan, small)).toThrow(PlanRefusedError);
    expect(() => checkPlanFits(plan, small)).toThrow(/model\.embed_tokens\.weight\) needs 524,288 bytes, over the device's maxStorageBufferBindingSize of 262,144 bytes/);
    const budget = Math.floor(plan.total / 2);
    try {
      checkPlanFits(plan, ctx.limits, budget, 'LoRA on random-llama-256');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(PlanRefusedError);
      const err = e as PlanRefusedError;
      expect([err.limit, err.requested, err.allowed]).toEqual(['memory budget', plan.total, budget]);
      expect(err.message).toContain(`predicted peak is ${plan.total.toLocaleString('en-US')} bytes, over the memory budget of ${budget.toLocaleString('en-US')} bytes`);
    }
  });
});
