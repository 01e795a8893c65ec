// ReALLM under a bit budget (src/train/budget/vq_candidates.ts, vq_plan.ts), CPU only:
//  - the shape rule (d divides the inputs, k = b·d ≤ 16, 2^k < vectors) and the
//    bytes of a built tensor equal the candidate's;
//  - the estimate's SVD shortcut (‖M‖² − Σ s²) equals the error computed directly;
//  - the knapsack gives a matrix with 10^4× the importance a richer configuration
//    than its twin;
//  - on stories260K (f32): the plan's bytes are the built tensors' exactly (codes,
//    f16 scales and tables, LoRA factors at 16 bits) and within the budget; a
//    shared-shape plan (--format aqlm) has one shape; a budget below the cheapest
//    codebook per matrix is refused naming the minimum.
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { encodeLearned } from '../../src/quant/vq/kmeans.ts';
import { measureVqCandidates, vqBytes, vqShapes, vqStorageBytes, type VqCandidate } from '../../src/train/budget/vq_candidates.ts';
import { applyVqPlan, planVqBudget } from '../../src/train/budget/vq_plan.ts';
import { BudgetError, solveBudget } from '../../src/train/budget/solve.ts';
import { formatPlan } from '../../src/train/budget/plan.ts';
import { LORA_BITS_PER_VALUE } from '../../src/train/budget/candidates.ts';

const hf = fixture('models/stories260K');

function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const w = new Float32Array(rows * cols);
  // A little low-rank structure plus noise, as real weights have.
  const a = Float64Array.from({ length: rows * 2 }, () => u() - 0.5);
  const b = Float64Array.from({ length: cols * 2 }, () => u() - 0.5);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) w[i * cols + j] = a[i * 2] * b[j * 2] + a[i * 2 + 1] * b[j * 2 + 1] + 0.3 * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return w;
}

describe('ReALLM candidates', () => {
  it('shapes: d divides the inputs, k = b·d ≤ 16, 2^k < vectors; a built tensor has the candidate\'s bytes', async () => {
    const names = (r: number, c: number) => vqShapes(r, c).map((s) => `d${s.dim}k${s.bits}`);
    expect(names(64, 172)).toEqual(['d2k2', 'd2k4', 'd2k6', 'd2k8', 'd4k4', 'd4k8']); // 172 % 8 ≠ 0; 2^12 > 2752 vectors
    expect(names(4096, 4096)).toEqual(['d2k2', 'd2k4', 'd2k6', 'd2k8', 'd4k4', 'd4k8', 'd4k12', 'd4k16', 'd8k8', 'd8k16']);
    expect(names(3, 3)).toEqual([]);
    const w = randomMatrix(32, 64, 3);
    for (const c of vqShapes(32, 64)) {
      const { q } = await encodeLearned(w, 32, 64, { dim: c.dim, bits: c.bits, iters: 2 });
      expect(vqStorageBytes(q)).toBe(vqBytes(c, 32, 64));
    }
    // d = 4, k = 8 on [32, 64]: 512 one-byte codes + 32 f16 scales + 256·4 f16 entries.
    expect(vqBytes({ dim: 4, bits: 8 }, 32, 64)).toBe(512 + 64 + 2048);
  });

  it('the rank errors (‖M‖² − Σ_{j<r} s_j²) equal the errors of the rank-r fits computed directly', async () => {
    const rows = 48;
    const cols = 64;
    const w = randomMatrix(rows, cols, 5);
    const [c] = vqShapes(rows, cols).filter((s) => s.dim === 4 && s.bits === 8);
    const cands = await measureVqCandidates(w, rows, cols, { ranks: [0, 8, 16], weights: null, seed: 2, shapes: [c] });
    const e0 = cands.find((x) => x.rank === 0)!.error;
    const e8 = cands.find((x) => x.rank === 8)!.error;
    const e16 = cands.find((x) => x.rank === 16)!.error;
    // Direct: the rank-0 error is ‖W − Q‖²; the rank-r one is that of Q + the best rank-r fit of W − Q.
    const { q } = await encodeLearned(w, rows, cols, { dim: 4, bits: 8, iters: 8, seed: 2 * 7919 + 4 * 17 + 8 });
    const { dequantizeVq } = await import('../../src/quant/vq/vqtensor.ts');
    const { randomizedSvd } = await import('../../src/train/lqlora.ts');
    const dq = dequantizeVq(q);
    const resid = Float64Array.from(w, (x, i) => x - dq[i]);
    let direct0 = 0;
    for (const x of resid) direct0 += x * x;
    const svd = randomizedSvd(resid, rows, cols, 16, { seed: 2 * 7919 });
    let direct8 = 0;
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) {
        let l = 0;
        for (let k = 0; k < 8; k++) l += svd.u[i * svd.k + k] * svd.s[k] * svd.v[j * svd.k + k];
        direct8 += (resid[i * cols + j] - l) ** 2;
      }
    console.log(`rank errors: 0 → ${e0.toExponential(4)} (direct ${direct0.toExponential(4)}), 8 → ${e8.toExponential(4)} (direct ${direct8.toExponential(4)}), 16 → ${e16.toExponential(4)}`);
    expect(Math.abs(e0 / direct0 - 1)).toBeLessThan(1e-9);
    expect(Math.abs(e8 / direct8 - 1)).toBeLessThan(1e-6);
    expect(e16).toBeLessThan(e8);
    expect(e8).toBeLessThan(e0);
  });

  it('a matrix with 10^4× the importance gets a richer configuration than its twin', async () => {
    const rows = 32;
    const cols = 64;
    const w = randomMatrix(rows, cols, 7);
    const o = { ranks: [0, 8], seed: 1 };
    const plain = await measureVqCandidates(w, rows, cols, { ...o, weights: null });
    const heavy = await measureVqCandidates(w, rows, cols, { ...o, weights: new Float32Array(cols).fill(1e4) });
    // Equal weights: the same candidates with errors ~10^4× (a plain factor, up to the k-means' f32 near-ties).
    heavy.forEach((h, i) => expect(Math.abs(h.error / plain[i].error / 1e4 - 1)).toBeLessThan(0.05));
    const groups: VqCandidate[][] = [plain, heavy];
    const weights = 2 * rows * cols;
    const cheapest = Math.min(...plain.map((c) => c.bytes));
    const richest = Math.max(...plain.map((c) => c.bytes));
    // Room for one matrix at its richest and the other at its cheapest.
    const budgetBytes = cheapest + richest;
    const sol = solveBudget(groups, budgetBytes, weights);
    const [a, b] = [plain[sol.choice[0]], heavy[sol.choice[1]]];
    console.log(`plain matrix: ${a.type} rank ${a.rank} (${a.bytes} bytes); 10^4× importance: ${b.type} rank ${b.rank} (${b.bytes} bytes); budget ${budgetBytes} bytes`);
    expect(b.bytes).toBeGreaterThan(a.bytes);
    expect(b.error / 1e4).toBeLessThan(a.error);
    expect(sol.bytes).toBeLessThanOrEqual(budgetBytes);
  });
});

describe('ReALLM budget plan on stories260K', () => {
  it('built tensors hold exactly the plan\'s bytes, within the budget; shared shape; too small a budget refused', { timeout: 600_000 }, async () => {
    if (!hf) return;
    const m = await openModelPath(hf);
    try {
      const budget = 5;
      const t0 = performance.now();
      const plan = await planVqBudget(m, { budget, ranks: [0, 8], seed: 0, imatrix: null });
      const t1 = performance.now();
      formatPlan(plan).forEach((l) => console.log(l));
      expect(plan.method).toBe('reallm');
      expect(plan.rows).toHaveLength(35);
      expect(plan.rows.reduce((s, r) => s + r.bytes, 0)).toBe(plan.bytes);
      expect(plan.bits).toBeLessThanOrEqual(budget);
      const built = await applyVqPlan(m, plan, { alpha: 8, imatrix: null, iters: 8 });
      const t2 = performance.now();
      let bytes = 0;
      for (const r of plan.rows) {
        const q = built.vq.get(r.name)!;
        bytes += vqStorageBytes(q);
        const f = built.factors.get(`${r.layer}.${r.role}`);
        expect(f ? f.a.length / r.cols : 0, r.name).toBe(r.rank);
        if (f) bytes += ((f.a.length + f.b.length) * LORA_BITS_PER_VALUE) / 8;
        expect(r.builtError, r.name).toBeGreaterThanOrEqual(0);
      }
      const bits = (8 * bytes) / plan.weights;
      console.log(`plan ${((t1 - t0) / 1000).toFixed(1)} s, build ${((t2 - t1) / 1000).toFixed(1)} s; ${bytes} bytes counted from the built tensors = ${bits.toFixed(4)} bits per weight (plan ${plan.bits.toFixed(4)}, budget ${budget}); shapes ${[...new Set(plan.rows.map((r) => r.type))].join(', ')}; ranks ${[...new Set(plan.rows.map((r) => r.rank))].join(', ')}`);
      expect(bytes).toBe(plan.bytes);
      expect(bits).toBeLessThanOrEqual(budget);

      const shared = await planVqBudget(m, { budget, ranks: [0], seed: 0, imatrix: null, shared: true });
      console.log(`shared shape: ${shared.rows[0].type} at ${shared.bits.toFixed(4)} bits per weight`);
      expect(new Set(shared.rows.map((r) => r.type)).size).toBe(1);
      expect(shared.bits).toBeLessThanOrEqual(budget);

      const low = planVqBudget(m, { budget: 0.5, ranks: [0], seed: 0, imatrix: null });
      await expect(low).rejects.toBeInstanceOf(BudgetError);
      await expect(low).rejects.toThrow(/below the cheapest plan, which needs 1\.\d+ bits per weight .*raise --budget to at least 1\.\d+/);
    } finally {
      await m.close();
    }
  });
});
