// The budget plan weighted by a diagonal Fisher estimate (its rank-1 row/column
// form, as src/train/weighting.ts gives it) on random-llama-256 (CPU only):
//  - each row's error is Σ_ij (r_i·c_j / ΣF)·(W − Q)²_ij of the blocks it keeps
//    (recomputed here by hand from applyBudgetPlan's blocks), i.e. the Fisher
//    weighs the errors instead of the imatrix;
//  - a matrix the unweighted plan leaves in the cheap type moves to the precise
//    one when the Fisher says it matters far more than the rest.
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { GgmlType, BLOCK_FORMATS } from '../../src/quant/formats.ts';
import { applyBudgetPlan, formatPlan, planBudget } from '../../src/train/budget/plan.ts';
import type { QuantChoice } from '../../src/train/budget/candidates.ts';
import type { RowColWeights } from '../../src/train/lqlora.ts';
import { rng } from '../../src/gpu/random.ts';

const path = fixture('models/random-llama-256/random-llama-256-F32.gguf');
const choices: QuantChoice[] = [
  { kind: 'gguf', type: GgmlType.Q2_K },
  { kind: 'gguf', type: GgmlType.Q4_K },
];

describe('budget plan weighted by the Fisher estimate', () => {
  it('weighs each matrix by r·cᵀ/ΣF and spends bits where the Fisher is large', { timeout: 300_000 }, async () => {
    if (!path) return;
    const m = await openModelPath(path);
    try {
      const o = { budget: 3.2, choices, ranks: [0], alpha: 1, seed: 0, rounds: 1, imatrix: null };
      const plain = await planBudget(m, o);
      const cheap = plain.rows.find((r) => r.type === 'Q2_K')!;
      expect(cheap, 'the unweighted plan leaves some matrix in Q2_K').toBeDefined();
      // Row and column sums of a positive "Fisher" (uneven, seeded); the cheap matrix 10⁴ times the rest.
      const rand = rng(7);
      const fisher = new Map<string, RowColWeights>();
      for (const r of plain.rows) {
        const scale = r.name === cheap.name ? 1e4 : 1;
        const row = Float64Array.from({ length: r.rows }, () => scale * (0.5 + rand()));
        const col = Float64Array.from({ length: r.cols }, () => 0.1 + 2 * rand());
        const s = row.reduce((a, b) => a + b, 0) / col.reduce((a, b) => a + b, 0);
        fisher.set(r.name, { row, col: col.map((c) => c * s) }); // Σ row = Σ col, as rowColForm's sums
      }
      const plan = await planBudget(m, { ...o, fisher });
      expect(plan.fisher).toBe(true);
      expect(plan.imatrix).toBe(false);
      expect(plan.bits).toBeLessThanOrEqual(3.2);
      expect(formatPlan(plan).at(-1)).toMatch(/\(Fisher-weighted\)$/);
      expect(plan.rows.find((r) => r.name === cheap.name)!.type).toBe('Q4_K');

      const applied = await applyBudgetPlan(m, plan, { alpha: 1, imatrix: null, fisher });
      let worst = 0;
      for (const r of plan.rows) {
        const l = applied.ggufLayers.get(r.name)!;
        const f = BLOCK_FORMATS[l.type as keyof typeof BLOCK_FORMATS];
        const dq = new Float32Array(r.rows * r.cols);
        f.dequantize(l.blocks, dq, dq.length / f.blockSize);
        const w = await m.tensors.get(r.name)!.readF32();
        const { row, col } = fisher.get(r.name)! as { row: Float64Array; col: Float64Array };
        const total = row.reduce((a, b) => a + b, 0);
        let e = 0;
        for (let i = 0; i < r.rows; i++) for (let j = 0; j < r.cols; j++) e += ((row[i] * col[j]) / total) * (w[i * r.cols + j] - dq[i * r.cols + j]) ** 2;
        worst = Math.max(worst, Math.abs(e - r.error) / e);
      }
      console.log(`Fisher-weighted plan: ${plan.rows.map((r) => r.type).join(' ')}; ${plan.bits.toFixed(4)} bits per weight; largest relative gap between a row's error and Σ r·c/ΣF·(W−Q)² ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(1e-6); // the column weights travel as f32 (the quantizers take Float32Array)
    } finally {
      await m.close();
    }
  });
});
