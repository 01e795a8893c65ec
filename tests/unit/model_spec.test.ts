// The model spec table: parameter entries agree with parameterCount() and the
// HF ⇄ GGUF name table for Llama (tied), Qwen2 (q/k/v biases) and an untied
// Mistral-style config; the activation plan shares slots across layers unless
// saving, and its byte total is derived from the shapes.
import { describe, expect, it } from 'vitest';
import { parameterCount, validateConfig, type LlamaConfig } from '../../src/arch/config.ts';
import { hfToGguf } from '../../src/arch/names.ts';
import { activationSpec, planActivations } from '../../src/model/spec.ts';
import { paramSpec } from '../../src/arch/params.ts';

const base: LlamaConfig = {
  architecture: 'llama', vocabSize: 512, hiddenSize: 64, intermediateSize: 172, numLayers: 5, numHeads: 8, numKvHeads: 4, headDim: 8,
  ropeTheta: 10000, ropeScaling: { type: 'none' }, rmsNormEps: 1e-5, tieWordEmbeddings: true, qkvBias: false, oBias: false, mlpBias: false,
  bosTokenId: 1, eosTokenIds: [2], maxPositions: 512, slidingWindow: null,
};
const qwen2 = validateConfig({ ...base, architecture: 'qwen2', numLayers: 2, numHeads: 14, numKvHeads: 2, hiddenSize: 896, headDim: 64, intermediateSize: 4864, qkvBias: true }, 'qwen2');
const mistral = validateConfig({ ...base, architecture: 'mistral', tieWordEmbeddings: false, slidingWindow: 16, oBias: true, mlpBias: true }, 'mistral');

const count = (c: LlamaConfig) => paramSpec(c).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);

describe('paramSpec', () => {
  for (const [name, c] of [['llama tied', base], ['qwen2 biases', qwen2], ['mistral untied, o/mlp biases', mistral]] as const)
    it(`${name}: counts equal parameterCount and every name maps to GGUF`, () => {
      expect(count(c)).toBe(parameterCount(c));
      for (const p of paramSpec(c)) expect(hfToGguf(p.name), p.name).not.toBeNull();
      expect(new Set(paramSpec(c).map((p) => p.name)).size).toBe(paramSpec(c).length);
    });

  it('stories260K: 260,032 parameters, 9 per layer, tied head absent', () => {
    const spec = paramSpec(base);
    expect(count(base)).toBe(260_032); // SOURCES.md
    expect(spec.filter((p) => p.layer === 3)).toHaveLength(9);
    expect(spec.some((p) => p.role === 'lm_head')).toBe(false);
    expect(spec.find((p) => p.name === 'model.layers.0.mlp.down_proj.weight')?.shape).toEqual([64, 172]);
    expect(spec.find((p) => p.name === 'model.layers.0.self_attn.k_proj.weight')?.shape).toEqual([32, 64]);
  });

  it('qwen2: q/k/v biases only; llama3 GGUF scaling asks for rope_freqs', () => {
    const biases = paramSpec(qwen2).filter((p) => p.kind === 'bias' && p.layer === 0);
    expect(biases.map((p) => [p.role, p.shape[0]])).toEqual([['q', 896], ['k', 128], ['v', 128]]);
    expect(paramSpec({ ...base, ropeScaling: { type: 'freq_factors' } }).find((p) => p.kind === 'rope_freqs')?.shape).toEqual([4]);
  });
});

describe('planActivations', () => {
  it('shares one slot per name across layers when not saving; x_out shares the residual', () => {
    const plan = planActivations(base, 2, 16, false);
    const slotOf = (name: string, layer: number | null) => plan.entries.find((e) => e.name === name && e.layer === layer)!.slot;
    expect(slotOf('q', 0)).toBe(slotOf('q', 4));
    expect(slotOf('x', 0)).toBe(slotOf('x_out', null));
    expect(slotOf('x_mid', 0)).not.toBe(slotOf('x', 0));
    const N = 32, C = 64, F = 172, QD = 64, KD = 32, H = 8;
    // ids, positions, x, xn1, rstd1, q, k, v, attn, lse, attn_out, x_mid, xn2, rstd2, gate, up, h, mlp_out, hidden, rstd_f
    const want = 4 * (N + N + N * C + N * C + N + N * QD + 2 * N * KD + N * QD + N * H + N * C + N * C + N * C + N + 3 * N * F + N * C + N * C + N);
    expect(plan.bytes).toBe(want);
    expect(plan.slots.at(-1)!.offset + plan.slots.at(-1)!.bytes).toBe(plan.bytes);
  });

  it('keeps saved activations per layer when saving, and shares the rest', () => {
    const plan = planActivations(base, 1, 8, true);
    const slots = (name: string) => new Set(plan.entries.filter((e) => e.name === name).map((e) => e.slot));
    expect(slots('lse').size).toBe(5);
    expect(slots('attn_out').size).toBe(1);
    expect(slots('x').size + slots('x_out').size).toBe(6);
    expect(plan.bytes).toBeGreaterThan(planActivations(base, 1, 8, false).bytes * 4);
  });

  it('rejects empty batches', () => {
    expect(() => activationSpec(base, 0, 4)).toThrow(/positive integers/);
  });
});
