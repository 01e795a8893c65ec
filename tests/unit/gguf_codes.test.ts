// The word-level block decoder (src/quant/gguf_codes.ts, used by ggufToQTensor)
// against the element-by-element oracle (src/ref/gguf_codes.ts): every code word
// equal, on random bytes of every quantized ggml type, for one block, several
// blocks per row and odd row counts.
import { describe, expect, it } from 'vitest';
import { BLOCK_FORMATS } from '../../src/quant/formats.ts';
import { ggufToQTensor, isQuantGgmlType, type QuantGgmlType } from '../../src/quant/gguf_qtensor.ts';
import { refGgufCodes } from '../../src/ref/gguf_codes.ts';

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
