// The memory planner (src/model/planner.ts) is an upper bound held to the
// allocation ledger: for every method (PEQA, LoRA, PEQA+LoRA, LQ-LoRA, DoRA), weight
// type (F32, Q4_0 with a Q6_K head, the Q4_K_M mix of Q4_K and Q6_K, i-quants and MXFP4, a GPTQ
// folder, layers sub4 quantized, tied quantized token tables) and save mode (all activations, or layer inputs
// with recomputation), a real training step (load, trainable state, AdamW,
// activations, backward workspace, forward + loss + backward + optimizer step)
// peaks at no more than the plan, and the plan at no more than 1.1 × the peak.
// Then the refusal: limits and a budget the plan cannot fit are named with the figure.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { fixture } from '../helpers/fixtures.ts';
import { boundLine, measureStep } from '../helpers/planner_case.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { fileSink } from '../../src/io/sink.node.ts';
import { checkPlanFits, planStep, PlanRefusedError, storageOf } from '../../src/model/planner.ts';
import type { TrainConfig } from '../../src/model/trainable.ts';
import { validateConfig, type LlamaConfig } from '../../src/arch/config.ts';
import { GgmlType } from '../../src/quant/formats.ts';
import type { LinearRole } from '../../src/arch/params.ts';
import { base, gemmaTest, synthetic, type Types } from './model_synthetic.ts';
import { quantizeModelLinears } from '../../src/train/quantize_model.ts';
import { planStorage, quantizeForTuning } from '../../src/train/setup.ts';
import { writeGptqFolder } from '../../src/export/gptq/folder.ts';

const DIR = 'models/random-llama-256/';
type Prep = 'file' | 'sub4-4bit' | 'lqlora';
const SETTINGS: [file: string, B: number, T: number, train: TrainConfig, save: true | 'inputs', prep: Prep][] = [
  ['random-llama-256-Q4_0.gguf', 1, 32, { method: 'peqa+lora', lora: { rank: 8 }, norms: true }, true, 'file'],
  ['random-llama-256-Q4_0.gguf', 2, 64, { method: 'peqa', peqa: 'scale' }, true, 'file'],
  ['random-llama-256-Q4_0.gguf', 1, 128, { method: 'peqa+lora', lora: { rank: 8 } }, 'inputs', 'file'],
  ['random-llama-256-Q4_K_M.gguf', 1, 128, { method: 'lora', lora: { rank: 16 } }, 'inputs', 'file'],
  ['random-llama-256-Q4_K_M.gguf', 1, 64, { method: 'peqa' }, true, 'file'],
  ['random-llama-256-Q4_K_M.gguf', 1, 64, { method: 'peqa+lora', lora: { rank: 8 } }, 'inputs', 'file'],
  ['random-llama-256-F32.gguf', 1, 128, { method: 'lora', lora: { rank: 8 } }, true, 'file'],
  ['random-llama-256-F32.gguf', 2, 32, { method: 'lora', lora: { rank: 8 } }, 'inputs', 'file'],
  // Codebook types (src/quant/vq/): IQ2_XXS (8-weight grid, signs), IQ3_S (4-weight grid, 16-bit indices), MXFP4 (free view).
  ['random-llama-256-IQ2_XXS.gguf', 1, 64, { method: 'peqa+lora', lora: { rank: 8 } }, true, 'file'],
  ['random-llama-256-IQ3_S.gguf', 1, 64, { method: 'peqa' }, 'inputs', 'file'],
  ['random-llama-256-MXFP4.gguf', 1, 64, { method: 'peqa' }, true, 'file'],
  ['random-llama-256-F32.gguf', 1, 64, { method: 'peqa' }, true, 'sub4-4bit'],
  ['random-llama-256-F32.gguf', 1, 64, { method: 'lora', lora: { rank: 8, alpha: 16, seed: 0 } }, 'inputs', 'lqlora'],
  // DoRA (src/model/dora.ts): magnitudes, norms, ‖W_o‖², the backward's Z and dZ, the norms' temporaries.
  ['random-llama-256-F32.gguf', 1, 64, { method: 'lora', lora: { rank: 8, dora: true } }, true, 'file'],
  ['random-llama-256-Q4_0.gguf', 1, 128, { method: 'lora', lora: { rank: 8, dora: true } }, 'inputs', 'file'],
  ['random-llama-256-IQ2_XXS.gguf', 2, 32, { method: 'lora', lora: { rank: 4, dora: true } }, true, 'file'],
  ['random-llama-256-F32.gguf', 1, 64, { method: 'lora', lora: { rank: 8, alpha: 16, seed: 0, dora: true } }, 'inputs', 'lqlora'],
  // A --budget plan's per-matrix ranks (TrainConfig.lora.ranks; 0: no LoRA on that matrix).
  ['random-llama-256-Q4_K_M.gguf', 1, 64, { method: 'lora', lora: { rank: 8, ranks: { '0.q': 64, '0.k': 0, '0.down': 32, '1.v': 0, '1.gate': 16 } } }, 'inputs', 'file'],
];

describe('memory planner vs the ledger on random-llama-256', () => {
  for (const [file, B, T, train, save, prep] of SETTINGS)
    it(`${file}${prep === 'file' ? '' : ` (${prep})`} ${train.method}${train.lora?.dora ? ' DoRA' : ''}${train.lora?.ranks ? ' per-matrix ranks' : ''}${save === 'inputs' ? ' (recompute)' : ''} at B=${B} T=${T}: measured ≤ planned ≤ 1.1 × measured`, async () => {
      const path = fixture(DIR + file);
      if (!path) return;
      const ctx = await gpu();
      const m = await openModelPath(path);
      try {
        const q = { bits: 4, groupSize: prep === 'lqlora' ? 64 : 32 } as const;
        const ready = prep === 'file' ? null : await quantizeForTuning(m, prep === 'lqlora' ? 'lqlora' : 'peqa', q, { rank: 8, alpha: 16, seed: 0 }, () => {});
        const storage = prep === 'file' ? storageOf(m) : planStorage(m, q);
        const r = await measureStep(ctx, { m, storage, train, B, T, save, quantized: ready?.quantized, factors: ready?.factors });
        console.log(boundLine(`${file} ${prep} ${train.method}${train.lora?.dora ? ' DoRA' : ''} ${save === 'inputs' ? 'recompute' : 'saved'} B=${B} T=${T}`, r.measured, r.planned));
        expect(r.measured).toBeLessThanOrEqual(r.planned);
        expect(r.planned).toBeLessThanOrEqual(1.1 * r.measured);
      } finally {
        await m.close();
      }
    });

  it('a GPTQ folder (stories260K, 4-bit g32 q/k/v/o, F16 MLP): PEQA+LoRA and LoRA, measured ≤ planned ≤ 1.1 × measured', { timeout: 300_000 }, async () => {
    const path = fixture('models/stories260K');
    if (!path) return;
    const ctx = await gpu();
    const dir = await mkdtemp(join(tmpdir(), 'sub4-plan-gptq-'));
    const base = await openModelPath(path);
    try {
      const quantized = await quantizeModelLinears(base, { bits: 4, groupSize: 32 });
      const aux = ['tokenizer.json', 'tokenizer_config.json'].filter((f) => base.hf!.folder.list().includes(f));
      await writeGptqFolder(
        { create: (name) => fileSink(join(dir, name)) },
        {
          config: base.hf!.configJson,
          linears: quantized,
          tensors: [...base.tensors.values()].filter((t) => !quantized.has(t.name)).map((t) => ({ name: t.name, shape: t.shape, read: () => t.readF32() })),
          files: aux.map((f) => ({ name: f, read: () => readFile(join(path, f)) })),
          readme: '# planner test\n',
        },
      );
      const m = await openModelPath(dir);
      try {
        for (const [train, save] of [[{ method: 'peqa+lora', peqaTargets: ['q', 'k', 'v', 'o'], lora: { rank: 4 } }, true], [{ method: 'lora', lora: { rank: 8 } }, 'inputs']] as [TrainConfig, true | 'inputs'][]) {
          const r = await measureStep(ctx, { m, storage: storageOf(m), train, B: 2, T: 64, save });
          console.log(boundLine(`stories260K GPTQ ${train.method} ${save === 'inputs' ? 'recompute' : 'saved'} B=2 T=64`, r.measured, r.planned));
          expect(r.measured).toBeLessThanOrEqual(r.planned);
          expect(r.planned).toBeLessThanOrEqual(1.1 * r.measured);
        }
      } finally {
        await m.close();
      }
    } finally {
      await base.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('tied quantized token tables (Q4_0, IQ4_NL, Gemma Q5_1): the table as stored and the head over it, measured ≤ planned ≤ 1.1 × measured', async () => {
    const ctx = await gpu();
    // down_proj reads 42 inputs, no whole 32-wide block: it stays F32, and out of PEQA.
    const layers = { q: GgmlType.Q4_0, k: GgmlType.Q4_0, v: GgmlType.Q8_0, o: GgmlType.Q4_0, gate: GgmlType.Q4_1, up: GgmlType.Q4_0 };
    const QROLES: LinearRole[] = ['q', 'k', 'v', 'o', 'gate', 'up'];
    const cases: [string, LlamaConfig, Types, TrainConfig, true | 'inputs'][] = [
      ['Q4_0 table', validateConfig({ ...base, tieWordEmbeddings: true }, 'tq4'), { ...layers, embed: GgmlType.Q4_0 }, { method: 'peqa+lora', peqaTargets: QROLES, lora: { rank: 4 } }, true],
      ['IQ4_NL table', validateConfig({ ...base, tieWordEmbeddings: true }, 'tiq4'), { ...layers, embed: GgmlType.IQ4_NL }, { method: 'lora', lora: { rank: 8 } }, 'inputs'],
      ['gemma3 Q5_1 table', validateConfig(gemmaTest, 'tgemma'), { ...layers, embed: GgmlType.Q5_1 }, { method: 'lora', lora: { rank: 4 } }, true],
    ];
    for (const [label, c, types, train, save] of cases) {
      const m = synthetic(c, 21, types);
      const r = await measureStep(ctx, { m, storage: storageOf(m), train, B: 2, T: 16, save });
      console.log(boundLine(`synthetic tied ${label} ${train.method} ${save === 'inputs' ? 'recompute' : 'saved'} B=2 T=16`, r.measured, r.planned));
      expect(r.measured).toBeLessThanOrEqual(r.planned);
      expect(r.planned).toBeLessThanOrEqual(1.1 * r.measured);
    }
  });

  it("sub4's own grids have integer zero points, so PEQA 'auto' plans the scale view", async () => {
    const path = fixture(DIR + 'random-llama-256-F32.gguf');
    if (!path) return;
    const m = await openModelPath(path);
    const plan = (peqa: 'auto' | 'scale' | 'scale+offset') => planStep({ config: m.config, storage: planStorage(m, { bits: 4, groupSize: 32 }), train: { method: 'peqa', peqa }, B: 1, T: 64 });
    await m.close();
    expect(plan('auto').parts.trainable).toBe(plan('scale').parts.trainable);
    expect(plan('auto').parts.trainable).toBeLessThan(plan('scale+offset').parts.trainable);
  });

  it('refuses a run that cannot fit, naming the limit and the predicted figure', async () => {
    const path = fixture(DIR + 'random-llama-256-Q4_0.gguf');
    if (!path) return;
    const ctx = await gpu();
    const m = await openModelPath(path);
    const plan = planStep({ config: m.config, storage: storageOf(m), train: { method: 'lora', lora: { rank: 8 } }, B: 1, T: 64 });
    await m.close();
    expect(checkPlanFits(plan, ctx.limits)).toBe(plan);
    // The token table stays Q4_0 on the GPU (codes split by rows to fit a binding, scales [512, 8]), so the
    // largest buffer is the MLP's gate activation [64, 768] f32 (192 KiB); a 128 KiB binding cannot hold it.
    expect(plan.largest).toEqual({ name: 'act.gate@0', bytes: 64 * 768 * 4 });
    const small = { maxBufferSize: 1 << 30, maxStorageBufferBindingSize: 1 << 17 };
    expect(() => checkPlanFits(plan, small)).toThrow(PlanRefusedError);
    expect(() => checkPlanFits(plan, small)).toThrow(/act\.gate@0\) needs 196,608 bytes, over the device's maxStorageBufferBindingSize of 131,072 bytes/);
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
