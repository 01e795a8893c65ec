import { describe, expect, it } from 'vitest';
import { QBITS, dequantizeQ } from '../../src/quant/qtensor.ts';
import { quantizeRtn, zeroPoints } from '../../src/quant/quantize/rtn.ts';
import { rng } from '../../src/gpu/random.ts';

function gaussian(n: number, seed: number, outliers = 0): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()) * 0.02;
  for (let i = 0; i < outliers; i++) out[Math.floor(r() * n)] *= 12;
  return out;
}
const rmse = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0) / a.length);

describe('round-to-nearest quantizers', () => {
  for (const bits of QBITS)
    for (const symmetric of [false, true])
      it(`${bits}-bit ${symmetric ? 'sym' : 'asym'}: every error within half a step`, () => {
        const rows = 5;
        const cols = 96;
        const w = gaussian(rows * cols, bits);
        const q = quantizeRtn(w, rows, cols, { bits, groupSize: 32, symmetric });
        const d = dequantizeQ(q);
        for (let i = 0; i < w.length; i++) {
          const s = q.scale[Math.floor(i / cols) * 3 + Math.floor((i % cols) / 32)];
          // Asymmetric ranges contain every value, so the error is ≤ scale/2. The
          // symmetric grid has one more step below zero than above, so the
          // largest positive value may clip by up to one step.
          expect(Math.abs(d[i] - w[i])).toBeLessThanOrEqual(s * (symmetric ? 1.0001 : 0.5001));
        }
        const z = zeroPoints(q);
        for (const zi of z) expect(Number.isInteger(zi) && zi >= 0 && zi < 1 << bits).toBe(true);
      });

  it('keeps exact zeros and handles constant groups', () => {
    const w = new Float32Array(32).fill(0.25);
    w[3] = 0;
    const d = dequantizeQ(quantizeRtn(w, 1, 32, { bits: 2, groupSize: 'channel' }));
    expect(d[3]).toBe(0);
    expect(d[0]).toBeCloseTo(0.25, 6);
    expect(dequantizeQ(quantizeRtn(new Float32Array(16), 1, 16, { bits: 3, groupSize: 16 }))).toEqual(new Float32Array(16));
  });

  it('MSE clip search lowers the error at 2 and 3 bits on weights with outliers', () => {
    const rows = 16;
    const cols = 256;
    const w = gaussian(rows * cols, 7, 40);
    for (const bits of [2, 3] as const) {
      const plain = rmse(dequantizeQ(quantizeRtn(w, rows, cols, { bits, groupSize: 128 })), w);
      const mse = rmse(dequantizeQ(quantizeRtn(w, rows, cols, { bits, groupSize: 128, mse: true })), w);
      expect(mse, `${bits}-bit: plain ${plain}, mse ${mse}`).toBeLessThan(plain * 0.97);
    }
  });

  it('rejects non-finite weights with the position', () => {
    const w = new Float32Array(16);
    w[5] = NaN;
    expect(() => quantizeRtn(w, 1, 16, { bits: 4, groupSize: 16 })).toThrow(/row 0, column 5/);
  });
});
