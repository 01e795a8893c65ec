import { describe, expect, it } from 'vitest';
import { QBITS, bitsPerWeight, dequantizeQ, emptyQTensor, getCode, setCode, wordsPerRow } from '../../src/quant/qtensor.ts';
import { rng } from '../../src/gpu/random.ts';

describe('QTensor packing', () => {
  for (const bits of QBITS)
    it(`${bits}-bit codes round-trip, including codes straddling words`, () => {
      const rows = 3;
      const cols = 77; // not a multiple of 32: the row padding is exercised
      const t = emptyQTensor(rows, cols, bits, cols);
      const r = rng(bits);
      const want: number[] = [];
      for (let i = 0; i < rows; i++)
        for (let k = 0; k < cols; k++) {
          const q = Math.floor(r() * (1 << bits));
          want.push(q);
          setCode(t, i, k, q);
        }
      const got: number[] = [];
      for (let i = 0; i < rows; i++) for (let k = 0; k < cols; k++) got.push(getCode(t, i, k));
      expect(got).toEqual(want);
      expect(t.codes.length).toBe(rows * 3 * bits);
      // Overwriting a code must not disturb its neighbours.
      setCode(t, 1, 10, 0);
      expect(getCode(t, 1, 9)).toBe(want[cols + 9]);
      expect(getCode(t, 1, 11)).toBe(want[cols + 11]);
    });

  it('3-bit layout: code k at bits [3k, 3k+3) of the row stream', () => {
    const t = emptyQTensor(1, 32, 3, 32);
    setCode(t, 0, 10, 0b101); // bits 30..32: straddles word 0 and word 1
    expect(t.codes[0] >>> 30).toBe(0b01);
    expect(t.codes[1] & 1).toBe(0b1);
    expect(wordsPerRow(32, 3)).toBe(3);
  });

  it('rejects codes that do not fit and bad shapes', () => {
    const t = emptyQTensor(1, 16, 2, 16);
    expect(() => setCode(t, 0, 0, 4)).toThrow(/does not fit/);
    expect(() => emptyQTensor(1, 16, 7 as never, 16)).toThrow(/bits/);
    expect(() => emptyQTensor(1, 100, 4, 48)).toThrow(/group size/);
  });

  it('dequantizes with w = scale·q + offset per group and reports bits per weight', () => {
    const t = emptyQTensor(1, 32, 4, 16);
    t.scale.set([0.5, 2]);
    t.offset.set([-1, 3]);
    setCode(t, 0, 0, 4);
    setCode(t, 0, 16, 1);
    const w = dequantizeQ(t);
    expect(w[0]).toBe(1);
    expect(w[1]).toBe(-1);
    expect(w[16]).toBe(5);
    expect(bitsPerWeight({ rows: 4096, cols: 4096, bits: 4, groupSize: 64 })).toBe(5);
    expect(bitsPerWeight({ rows: 1, cols: 48, bits: 3, groupSize: 48 })).toBeCloseTo((64 * 3 + 64) / 48);
  });
});
