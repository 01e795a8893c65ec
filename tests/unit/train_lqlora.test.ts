// CPU side of quantized training set-up (no GPU needed): the randomized SVD
// recovers an exactly low-rank matrix; LQ-LoRA's split of a real stories260K
// weight beats plain RTN at 2 bits, its factors reproduce the low-rank part
// under the adapter's scale, and its rounds do not make things worse; model
// quantization refuses layers without original float weights and group sizes
// that are not a supported grid.
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { rng } from '../../src/gpu/random.ts';
import { dequantizeQ } from '../../src/quant/qtensor.ts';
import { lqloraInit, randomizedSvd } from '../../src/train/lqlora.ts';
import { originalWeights, quantizeModelLinears, quantizeWeight, QuantizeModelError } from '../../src/train/quantize_model.ts';

const f32Path = fixture('models/stories260K.gguf');
const q4Path = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');

/** Orthonormal columns [n, k] from a random matrix (Gram–Schmidt). */
function orthonormal(n: number, k: number, seed: number): Float64Array {
  const u = rng(seed);
  const m = Float64Array.from({ length: n * k }, () => u() - 0.5);
  for (let j = 0; j < k; j++) {
    for (let p = 0; p < j; p++) {
      let d = 0;
      for (let i = 0; i < n; i++) d += m[i * k + p] * m[i * k + j];
      for (let i = 0; i < n; i++) m[i * k + j] -= d * m[i * k + p];
    }
    const norm = Math.sqrt(Array.from({ length: n }, (_, i) => m[i * k + j] ** 2).reduce((a, b) => a + b));
    for (let i = 0; i < n; i++) m[i * k + j] /= norm;
  }
  return m;
}

const relErr = (w: ArrayLike<number>, approx: (i: number) => number) => {
  let e = 0;
  let n = 0;
  for (let i = 0; i < w.length; i++) {
    e += (w[i] - approx(i)) ** 2;
    n += w[i] ** 2;
  }
  return Math.sqrt(e / n);
};

describe('randomized SVD', () => {
  it('recovers a rank-3 matrix and its singular values', () => {
    const [rows, cols, k] = [40, 30, 3];
    const U = orthonormal(rows, k, 1);
    const V = orthonormal(cols, k, 2);
    const S = [5, 2, 0.5];
    const m = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let c = 0; c < cols; c++) for (let j = 0; j < k; j++) m[i * cols + c] += U[i * k + j] * S[j] * V[c * k + j];
    const svd = randomizedSvd(m, rows, cols, 3, { seed: 9 });
    for (let j = 0; j < 3; j++) expect(svd.s[j]).toBeCloseTo(S[j], 9);
    const err = relErr(m, (x) => {
      const [i, c] = [Math.floor(x / cols), x % cols];
      let s = 0;
      for (let j = 0; j < svd.k; j++) s += svd.u[i * svd.k + j] * svd.s[j] * svd.v[c * svd.k + j];
      return s;
    });
    expect(err).toBeLessThan(1e-10);
    expect(() => randomizedSvd(m, rows, cols, 0)).toThrow(RangeError);
  });
});

describe.skipIf(!f32Path)('LQ-LoRA and model quantization on stories260K (F32)', () => {
  it('LQ-LoRA beats plain 2-bit RTN, and s·B·A carries the low-rank part', async () => {
    const m = await openModelPath(f32Path!);
    try {
      const t = m.tensors.get('model.layers.1.self_attn.q_proj.weight')!;
      const [rows, cols] = t.shape;
      const w = await originalWeights(m, t, 'LQ-LoRA');
      const o = { bits: 2 as const, groupSize: 32, rank: 8, alpha: 16, rounds: 4, seed: 3 };
      const plainQ = dequantizeQ(quantizeWeight(w, rows, cols, o));
      const plain = relErr(w, (i) => plainQ[i]);
      const init = lqloraInit(w, rows, cols, o);
      console.log(`2-bit q_proj: RTN error ${plain.toFixed(4)}; LQ-LoRA rank 8 per round ${init.errors.map((e) => e.toFixed(4)).join(' ')}`);
      expect(init.errors).toHaveLength(4);
      expect(init.errors[0]).toBeLessThan(plain * 0.95); // a rank-8 correction of the RTN error already helps
      expect(init.errors[3]).toBeLessThanOrEqual(init.errors[0] + 1e-9);
      const dq = dequantizeQ(init.q);
      const s = o.alpha / o.rank;
      const full = relErr(w, (x) => {
        const [i, c] = [Math.floor(x / cols), x % cols];
        let l = 0;
        for (let j = 0; j < o.rank; j++) l += init.b[i * o.rank + j] * init.a[j * cols + c];
        return dq[x] + s * l;
      });
      expect(full).toBeCloseTo(init.errors[3], 5); // f32 factors: the same error as the f64 split
    } finally {
      await m.close();
    }
  });

  it('quantizes every linear layer, and refuses bad group sizes and quantized sources', async () => {
    const m = await openModelPath(f32Path!);
    try {
      const qs = await quantizeModelLinears(m, { bits: 4, groupSize: 'channel' });
      expect(qs.size).toBe(5 * 7);
      const q = qs.get('model.layers.0.mlp.down_proj.weight')!;
      expect([q.rows, q.cols, q.bits, q.groupSize]).toEqual([64, 172, 4, 172]);
      const w = await m.tensors.get('model.layers.0.mlp.down_proj.weight')!.readF32();
      const dq = dequantizeQ(q);
      expect(relErr(w, (i) => dq[i])).toBeLessThan(0.15);
      // 172 inputs in groups of 32: five full groups and a last one of 12.
      const g32 = (await quantizeModelLinears(m, { bits: 3, groupSize: 32 })).get('model.layers.0.mlp.down_proj.weight')!;
      expect(g32.scale.length).toBe(64 * 6);
      await expect(quantizeModelLinears(m, { bits: 3, groupSize: 48 })).rejects.toThrow(/group size/);
      const small = await quantizeModelLinears(m, { bits: 3, groupSize: 32 }, ['q', 'k']);
      expect(small.size).toBe(10);
    } finally {
      await m.close();
    }
    if (!q4Path) return;
    const q4 = await openModelPath(q4Path);
    try {
      const t = q4.tensors.get('model.layers.0.self_attn.q_proj.weight')!;
      await expect(originalWeights(q4, t, 'LQ-LoRA')).rejects.toThrow(QuantizeModelError);
      await expect(quantizeModelLinears(q4, { bits: 4, groupSize: 32 }, ['q'])).rejects.toThrow(/already quantized \(Q4_0\)/);
    } finally {
      await q4.close();
    }
  });
});
