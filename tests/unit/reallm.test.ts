// ReALLM's learned-VQ / low-rank split (src/train/reallm.ts) on stories260K
// matrices: the error falls over the rounds and the kept round is the best;
// it beats the learned codebook alone at the same index bits; it is
// deterministic; the codebook shape rule and its refusals.
import { describe, expect, it } from 'vitest';
import { openModelPath } from '../../src/io/model.node.ts';
import { dequantizeVq } from '../../src/quant/vq/vqtensor.ts';
import { encodeLearned } from '../../src/quant/vq/kmeans.ts';
import { reallmCodebook, reallmInit, ReallmError } from '../../src/train/reallm.ts';

const stories = '/work/shared/models/stories260K';

async function matrix(name: string) {
  const m = await openModelPath(stories);
  try {
    const t = m.tensors.get(name)!;
    return { w: await t.readF32(), rows: t.shape[0], cols: t.shape[1] };
  } finally {
    await m.close();
  }
}

function relErr(w: Float32Array, approx: Float64Array | Float32Array) {
  let e = 0;
  let s = 0;
  for (let i = 0; i < w.length; i++) ((e += (w[i] - approx[i]) ** 2), (s += w[i] ** 2));
  return Math.sqrt(e / s);
}

describe('reallmInit', () => {
  it('lowers the error over rounds, keeps the best, beats the codebook alone, and is deterministic', async () => {
    const { w, rows, cols } = await matrix('model.layers.1.mlp.gate_proj.weight');
    const o = { rank: 4, dim: 4 as const, bits: 8, rounds: 4, iters: 8, seed: 3 };
    const r = await reallmInit(w, rows, cols, o, 'gate_proj');
    console.log(`gate_proj [${rows}, ${cols}] d=4 k=8: errors per round ${r.errors.map((e) => e.toFixed(5)).join(' → ')} (kept round ${r.kept + 1}); codebook alone ${r.vqOnlyError.toFixed(5)}; ${r.bitsPerWeight.toFixed(3)} bits/weight + rank 4`);
    expect(r.errors[1]).toBeLessThan(r.errors[0]);
    for (let i = 1; i <= r.kept; i++) expect(r.errors[i]).toBeLessThan(r.errors[i - 1]);
    if (r.errors.length > r.kept + 1) expect(r.errors.at(-1)!).toBeGreaterThanOrEqual(r.errors[r.kept]);
    // The reported error is that of the factors returned: ‖W − deq(Q) − s·B·A‖ / ‖W‖.
    const dq = dequantizeVq(r.q);
    const approx = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++)
      for (let c = 0; c < cols; c++) {
        let l = 0;
        for (let j = 0; j < 4; j++) l += r.b[i * 4 + j] * r.a[j * cols + c];
        approx[i * cols + c] = dq[i * cols + c] + l;
      }
    expect(relErr(w, approx)).toBeCloseTo(r.errors[r.kept], 4);
    // The same bits spent on the codebook alone (encodeLearned at the same d, k and iterations).
    const alone = await encodeLearned(w, rows, cols, { dim: 4, bits: 8, iters: 8, seed: 3 * 7919 });
    expect(r.errors[r.kept]).toBeLessThan(alone.error);
    expect(r.vqOnlyError).toBeCloseTo(alone.error, 6);
    const again = await reallmInit(w, rows, cols, o, 'gate_proj');
    expect(again.errors).toEqual(r.errors);
    expect(again.q.codes).toEqual(r.q.codes);
    expect(again.q.codebook.values).toEqual(r.q.codebook.values);
    expect(again.a).toEqual(r.a);
    expect(again.b).toEqual(r.b);
  }, 120_000);

  it('stops at the first round whose error rises and keeps the round before it', async () => {
    const { w, rows, cols } = await matrix('model.layers.0.self_attn.q_proj.weight');
    const r = await reallmInit(w, rows, cols, { rank: 4, dim: 4, bits: 8, rounds: 12, iters: 8, seed: 1 }, 'q_proj');
    console.log(`q_proj [${rows}, ${cols}], up to 12 rounds: ${r.errors.map((e) => e.toFixed(5)).join(' → ')} (kept round ${r.kept + 1})`);
    expect(r.errors.length).toBeLessThan(12);
    expect(r.errors.length).toBe(r.kept + 2);
    expect(r.errors.at(-1)!).toBeGreaterThanOrEqual(r.errors[r.kept]);
    expect(Math.min(...r.errors)).toBe(r.errors[r.kept]);
  }, 120_000);

  it('weights the split by an importance vector', async () => {
    const { w, rows, cols } = await matrix('model.layers.0.self_attn.q_proj.weight');
    const importance = Float32Array.from({ length: cols }, (_, c) => 1 + 9 * (c % 3 === 0 ? 1 : 0));
    const r = await reallmInit(w, rows, cols, { rank: 4, dim: 4, bits: 8, rounds: 3, iters: 6, importance }, 'q_proj');
    const plain = await reallmInit(w, rows, cols, { rank: 4, dim: 4, bits: 8, rounds: 3, iters: 6 }, 'q_proj');
    // Under the importance weighting, the weighted split does at least as well as the unweighted one.
    const weighted = (q: typeof r) => {
      const dq = dequantizeVq(q.q);
      let e = 0;
      let s = 0;
      for (let i = 0; i < rows; i++)
        for (let c = 0; c < cols; c++) {
          let l = 0;
          for (let j = 0; j < 4; j++) l += q.b[i * 4 + j] * q.a[j * cols + c];
          e += importance[c] * (w[i * cols + c] - dq[i * cols + c] - l) ** 2;
          s += importance[c] * w[i * cols + c] ** 2;
        }
      return Math.sqrt(e / s);
    };
    expect(weighted(r)).toBeCloseTo(r.errors[r.kept], 4);
    expect(weighted(r)).toBeLessThan(weighted(plain) * 1.02);
  }, 120_000);
});

describe('reallmCodebook', () => {
  const layers = [{ name: 'q', cols: 64 }, { name: 'down', cols: 172 }];
  it('shares one (d, k) across layers: k = B·d, d the largest of 8, 4, 2 that fits', () => {
    expect(reallmCodebook(2, [{ name: 'q', cols: 64 }])).toMatchObject({ dim: 8, bits: 16 });
    expect(reallmCodebook(3, [{ name: 'q', cols: 64 }])).toMatchObject({ dim: 4, bits: 12 });
    expect(reallmCodebook(4, [{ name: 'q', cols: 64 }])).toMatchObject({ dim: 4, bits: 16 });
    expect(reallmCodebook(2, layers)).toMatchObject({ dim: 4, bits: 8 });
    expect(reallmCodebook(2, layers).why).toMatch(/down has 172 inputs/);
    expect(reallmCodebook(null, layers, { dim: 2, bits: 6 })).toMatchObject({ dim: 2, bits: 6 });
  });
  it('refuses a forced vector length that does not divide a layer, naming it', () => {
    expect(() => reallmCodebook(2, layers, { dim: 8 })).toThrow(ReallmError);
    expect(() => reallmCodebook(2, layers, { dim: 8 })).toThrow(/down has 172 inputs/);
    expect(() => reallmCodebook(4, layers, { dim: 8 })).toThrow(ReallmError);
    expect(() => reallmCodebook(null, layers)).toThrow(/needs --bits/);
  });
});
