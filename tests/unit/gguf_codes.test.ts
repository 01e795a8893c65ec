// The word-level block decoder (src/quant/gguf_codes.ts, used by ggufToQTensor)
// against the element-by-element oracle (src/ref/gguf_codes.ts): every code word
// equal, on random bytes of every quantized ggml type, for one block, several
// blocks per row and odd row counts. And the load's path (decodeGgufInto into a
// reused scratch QTensor whose buffers hold an earlier tensor, bytes at an odd
// offset, no origin) against ggufToQTensor: codes, scales and offsets bit for bit.
import { describe, expect, it } from 'vitest';
import { BLOCK_FORMATS } from '../../src/quant/formats.ts';
import { decodeGgufInto, ggufGrid, ggufToQTensor, isQuantGgmlType, type QuantGgmlType } from '../../src/quant/gguf_qtensor.ts';
import { refGgufCodes } from '../../src/ref/gguf_codes.ts';
import { QTensorScratch } from '../../src/quant/qtensor_scratch.ts';

const TYPES = Object.keys(BLOCK_FORMATS).map(Number).filter(isQuantGgmlType) as QuantGgmlType[];

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) out[i] = (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24;
  return out;
}

describe('ggml block codes, word at a time', () => {
  it('covers the ten quantized types', () => expect(TYPES.length).toBe(10));
  for (const type of TYPES)
    for (const [rows, blocks] of [[1, 1], [3, 2], [5, 3]] as const)
      it(`${BLOCK_FORMATS[type].name}: ${rows} rows × ${blocks} blocks equal the per-element decoder`, () => {
        const f = BLOCK_FORMATS[type];
        const cols = blocks * f.blockSize;
        const bytes = randomBytes(rows * blocks * f.bytesPerBlock, 17 + type * 31 + rows);
        const got = ggufToQTensor(type, bytes, rows, cols).q.codes;
        const want = refGgufCodes(type, bytes, rows, cols).codes;
        let bad = -1;
        for (let i = 0; i < want.length && bad < 0; i++) if (got[i] !== want[i]) bad = i;
        if (bad >= 0) console.log(`${f.name}: first differing word ${bad} of ${want.length}: got ${got[bad].toString(16)}, want ${want[bad].toString(16)}`);
        expect(got.length).toBe(want.length);
        expect(bad).toBe(-1);
      });
});

describe('decoding into a reused scratch QTensor', () => {
  for (const type of TYPES)
    it(`${BLOCK_FORMATS[type].name}: equals a fresh decode after a larger tensor, from an odd byte offset`, () => {
      const f = BLOCK_FORMATS[type];
      const { bits, group } = ggufGrid(type);
      const scratch = new QTensorScratch();
      const big = randomBytes(6 * 4 * f.bytesPerBlock, 5 + type);
      decodeGgufInto(type, big, scratch.qtensor(6, 4 * f.blockSize, bits, group), null);
      const [rows, cols] = [3, 2 * f.blockSize];
      const shifted = randomBytes(rows * 2 * f.bytesPerBlock + 1, 9 + type).subarray(1); // odd byteOffset: the 16-bit view must copy
      const q = scratch.qtensor(rows, cols, bits, group);
      decodeGgufInto(type, shifted, q, null);
      const want = ggufToQTensor(type, shifted.slice(), rows, cols).q;
      const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));
      expect(same(q.codes, want.codes)).toBe(true);
      expect(same(q.scale, want.scale)).toBe(true);
      expect(same(q.offset, want.offset)).toBe(true);
    });
});
