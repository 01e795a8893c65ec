// The quantizer pool (src/quant/quantize/pool.ts) on Node worker_threads: for
// every type ggmlQuantize writes, with and without importance weights (only
// with them where llama.cpp requires them), the pool's bytes over 3 workers
// equal the single-thread ggmlQuantize's, on an awkward row count (37 rows:
// chunks of unequal size, plus the inline first row). Errors keep their type
// (the first row runs inline), a small tensor runs inline without workers, and
// destroy() refuses jobs still running (a cancelled plan stops awaiting them).
import { afterAll, describe, expect, it } from 'vitest';
import { GgmlType } from '../../src/quant/formats.ts';
import { GRID_IQUANTS, ggmlQuantize, ImatrixRequiredError, quantizeRequiresImatrix } from '../../src/quant/quantize/ggml_quantize.ts';
import { createNodeQuantizePool } from '../../src/quant/quantize/pool.node.ts';
import { QuantizePool, type PoolWorker } from '../../src/quant/quantize/pool.ts';
import { rng } from '../../src/gpu/random.ts';

export const POOL_TYPES: GgmlType[] = [
  GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
  GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS,
  GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.MXFP4, GgmlType.NVFP4, ...GRID_IQUANTS,
];

const pool = createNodeQuantizePool(3, { minWeights: 0 });
afterAll(() => pool.destroy());

describe('quantizer pool (Node workers)', () => {
  const rows = 37;
  const cols = 256;
  const r = rng(3);
  const src = Float32Array.from({ length: rows * cols }, () => (r() - 0.5) * (r() < 0.02 ? 8 : 1));
  const weights = Float32Array.from({ length: cols }, () => 0.01 + r() * r() * 4);

  for (const type of POOL_TYPES)
    it(`${GgmlType[type]}: the same bytes as one thread`, { timeout: 120_000 }, async () => {
      for (const w of quantizeRequiresImatrix(type) ? [weights] : [null, weights]) {
        const want = ggmlQuantize(type, src, rows, cols, w);
        const got = await pool.quantize(type, src, rows, cols, w);
        expect(got.length).toBe(want.length);
        expect(Buffer.from(got).equals(Buffer.from(want)), `${GgmlType[type]} ${w ? 'weighted' : 'unweighted'}`).toBe(true);
      }
    });

  it('keeps the quantizer\'s typed errors and leaves small tensors inline', async () => {
    await expect(pool.quantize(GgmlType.IQ2_XXS, src, rows, cols, null)).rejects.toBeInstanceOf(ImatrixRequiredError);
    await expect(pool.quantize(GgmlType.Q4_K, src.subarray(0, 37 * 64), 37, 64, null)).rejects.toThrow(/multiple of 256/);
    const small = createNodeQuantizePool(4); // default minWeights: 37 × 256 runs inline
    try {
      expect(Buffer.from(await small.quantize(GgmlType.Q4_0, src, rows, cols, null)).equals(Buffer.from(ggmlQuantize(GgmlType.Q4_0, src, rows, cols, null)))).toBe(true);
      expect((small as unknown as { workers: unknown[] }).workers.length).toBe(0);
      expect(small.posted).toBe(0);
    } finally {
      small.destroy();
    }
  });

  it('counts the chunks it posts; destroy() refuses the jobs still running', async () => {
    // Workers that never answer: only destroy() can end the await.
    const silent = (): PoolWorker => ({ post: () => {}, onReply: () => {}, onError: () => {}, terminate: () => {} });
    const stuck = new QuantizePool(silent, 2, { minWeights: 0 });
    const pending = stuck.quantize(GgmlType.Q4_0, src, rows, cols, null);
    await Promise.resolve();
    expect(stuck.posted).toBe(2);
    stuck.destroy();
    await expect(pending).rejects.toThrow(/QuantizePool destroyed/);
  });
});
