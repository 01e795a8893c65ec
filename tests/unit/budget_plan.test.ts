// The budget plan over a real float model (random-llama-256 F32, CPU only):
// planBudget's bits stay within the budget and its rows sum to its totals;
// applyBudgetPlan redoes every planned
// split exactly (it checks the error itself) and the overlay shows the layers
// as GGUF-typed tensors whose readF32 is the blocks' dequantization.
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { readImatrix } from '../../src/io/imatrix/index.ts';
import { GgmlType, BLOCK_FORMATS } from '../../src/quant/formats.ts';
import { applyBudgetPlan, formatPlan, planBudget } from '../../src/train/budget/plan.ts';
import { withGgufLayers } from '../../src/train/budget/overlay.ts';
import type { QuantChoice } from '../../src/train/budget/candidates.ts';

const path = fixture('models/random-llama-256/random-llama-256-F32.gguf');
const imPath = fixture('models/random-llama-256/random-llama-256.imatrix.gguf');
const choices: QuantChoice[] = [
  { kind: 'gguf', type: GgmlType.Q2_K },
  { kind: 'gguf', type: GgmlType.Q4_K },
  { kind: 'grid', bits: 3, groupSize: 64 },
];

describe('budget plan on random-llama-256', () => {
  it('plans within the budget, redoes the splits exactly, and overlays GGUF-typed layers', { timeout: 300_000 }, async () => {
    if (!path || !imPath) return;
    const m = await openModelPath(path);
    const src = await fileSource(imPath);
    const im = await readImatrix(src);
    await src.close?.();
    try {
      const o = { budget: 3.6, choices, ranks: [4], alpha: 4, seed: 1, rounds: 2, imatrix: im };
      const plan = await planBudget(m, o);
      expect(plan.bits).toBeLessThanOrEqual(3.6);
      expect(plan.rows).toHaveLength(14);
      expect(plan.rows.reduce((s, r) => s + r.bytes, 0)).toBe(plan.bytes);
      expect(plan.rows.reduce((s, r) => s + r.rows * r.cols, 0)).toBe(plan.weights);
      expect(new Set(plan.rows.map((r) => r.type)).size).toBeGreaterThan(1);
      expect(formatPlan(plan).at(-1)).toMatch(/^total: \d+ bytes for 1572864 linear weights = 3\.\d+ bits per weight/);
      expect(plan.imatrix).toBe(true);

      const applied = await applyBudgetPlan(m, plan, { alpha: 4, imatrix: im });
      expect(applied.quantized.size + applied.ggufLayers.size).toBe(14);
      expect(applied.factors.size).toBe(14);
      const ov = withGgufLayers(m, applied.ggufLayers);
      for (const [name, l] of applied.ggufLayers) {
        const t = ov.tensors.get(name)!;
        expect(t.ggmlType).toBe(l.type);
        expect(t.rowOrder).toBeNull();
        expect(t.bytes).toBe(plan.rows.find((r) => r.name === name)!.quantBytes);
        expect(await t.readRaw()).toBe(l.blocks);
        const f = BLOCK_FORMATS[l.type as keyof typeof BLOCK_FORMATS];
        const want = new Float32Array(l.rows * l.cols);
        f.dequantize(l.blocks, want, want.length / f.blockSize);
        expect(await t.readF32()).toEqual(want);
        expect(m.tensors.get(name)!.type).toBe('F32'); // the file's model is untouched
      }
    } finally {
      await m.close();
    }
  });
});
