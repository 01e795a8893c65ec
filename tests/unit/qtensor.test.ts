import { describe, expect, it } from 'vitest';
import { QBITS, bitsPerWeight, dequantizeQ, emptyQTensor, getCode, planeWidths, setCode, wordsPerRow } from '../../src/quant/qtensor.ts';
import { rng } from '../../src/gpu/random.ts';
import { denseRows } from '../../src/gpu/qtensor_gpu.ts';

describe('QTensor packing', () => {
  for (const bits of QBITS)
    it(`${bits}-bit codes round-trip across both bit planes`, () => {
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

  it('3-bit layout: low 2 bits in plane 0, high bit in plane 1', () => {
    const t = emptyQTensor(1, 64, 3, 64); // 2 chunks of 32: plane 0 = 4 words, plane 1 = 2 words
    setCode(t, 0, 17, 0b101);
    expect(t.codes.length).toBe(6);
    expect((t.codes[1] >>> 2) & 3).toBe(0b01); // k=17: plane-0 bits 34..35 → word 1, shift 2
    expect((t.codes[4] >>> 17) & 1).toBe(1); // plane 1 starts at word 4; k=17 → bit 17
    expect(wordsPerRow(32, 3)).toBe(3);
    expect(planeWidths(6)).toEqual([4, 2]);
    expect(planeWidths(5)).toEqual([4, 1]);
    expect(planeWidths(8)).toEqual([8, 0]);
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

// The GPU copy of 3/5/6-bit codes is one dense bit stream per row (src/gpu/qtensor_gpu.ts).
describe('dense GPU rows', () => {
  for (const bits of [3, 5, 6] as const)
    for (const cols of [45, 64, 100])
      it(`${bits}-bit, ${cols} columns: code k at bits k·${bits} of its row, one padding word`, () => {
        const rows = 5;
        const q = emptyQTensor(rows, cols, bits, cols);
        const r = rng(bits * 100 + cols);
        for (let o = 0; o < rows; o++) for (let k = 0; k < cols; k++) setCode(q, o, k, Math.floor(r() * 2 ** bits));
        const row0 = 1;
        const d = denseRows(q, row0, 3);
        const wpr = wordsPerRow(cols, bits);
        expect(d.length).toBe(3 * wpr + 1);
        expect(d[3 * wpr]).toBe(0);
        for (let o = 0; o < 3; o++)
          for (let k = 0; k < cols; k++) {
            const b = o * wpr * 32 + k * bits;
            // read `bits` bits starting at bit b of the stream, across a word boundary if need be
            const lo = d[b >>> 5] >>> (b & 31);
            const hi = (b & 31) + bits > 32 ? d[(b >>> 5) + 1] << (32 - (b & 31)) : 0;
            expect(((lo | hi) >>> 0) & ((1 << bits) - 1), `row ${o} code ${k}`).toBe(getCode(q, row0 + o, k));
          }
      });
});
