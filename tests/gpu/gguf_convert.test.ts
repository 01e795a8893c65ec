// The GGUF conversion kernel (gguf_convert.wgsl) against the CPU decoder
// (ggufToQTensor, and denseRows for 6-bit codes): every code word and every
// scale / offset bit equal, on random blocks (random codes and sub-scales,
// random finite f16 d / dmin, subnormals, zeros and negatives included), for
// one block, several blocks per row, odd row counts, and tensors split into
// several parts by a small binding limit.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { uploadGgufBlocks } from '../../src/gpu/kernels/gguf_convert.ts';
import { denseRows } from '../../src/gpu/qtensor_gpu.ts';
import { BLOCK_FORMATS, GgmlType } from '../../src/quant/formats.ts';
import { ggufToQTensor, type QuantGgmlType } from '../../src/quant/gguf_qtensor.ts';
import { planeWidths, wordsPerRow } from '../../src/quant/qtensor.ts';

function randomBlocks(type: QuantGgmlType, n: number, seed: number): Uint8Array {
  const f = BLOCK_FORMATS[type];
  const out = new Uint8Array(n * f.bytesPerBlock);
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 8;
  for (let i = 0; i < out.length; i++) out[i] = next() & 0xff;
  for (let b = 0; b < n; b++)
    for (const off of Object.values(f.f16Fields ?? {}) as number[]) {
      // any finite f16: exponent 0..30 (0 = zero / subnormal), either sign
      const h = ((next() & 1) << 15) | ((next() % 31) << 10) | (next() & 0x3ff);
      out[b * f.bytesPerBlock + off] = h & 0xff;
      out[b * f.bytesPerBlock + off + 1] = h >> 8;
    }
  return out;
}

const bits = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);

describe('gguf_convert kernel vs the CPU decoder', () => {
  for (const type of [GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K] as QuantGgmlType[])
    for (const [rows, blocks, split] of [[1, 1, false], [3, 2, false], [7, 3, false], [9, 2, true]] as const)
      it(`${BLOCK_FORMATS[type].name}: ${rows} rows × ${blocks} blocks${split ? ', split into parts of 3 rows' : ''}`, async () => {
        const ctx = await gpu();
        const f = BLOCK_FORMATS[type];
        const cols = blocks * f.blockSize;
        // A binding limit that holds 3 rows of codes (with padding) and of raw blocks (with the padding word).
        const maxBinding = split ? 3 * Math.max(wordsPerRow(cols, f.blockSize === 256 && type === GgmlType.Q6_K ? 6 : 4) * 4, blocks * f.bytesPerBlock) + 8 : 0;
        const bytes = randomBlocks(type, rows * blocks, 1000 * type + 10 * rows + blocks);
        const { q } = ggufToQTensor(type, bytes, rows, cols);
        const w = uploadGgufBlocks(ctx, type, bytes, rows, cols, 'test', maxBinding ? { maxBindingBytes: maxBinding } : {});
        try {
          if (maxBinding) expect(w.codeParts.length).toBeGreaterThan(1);
          expect([w.bits, w.groupSize]).toEqual([q.bits, q.groupSize]);
          const wpr = wordsPerRow(cols, q.bits);
          let badCodes = 0;
          for (const part of w.codeParts) {
            const got = await part.codes.read();
            const want = planeWidths(q.bits)[1] > 0 ? denseRows(q, part.row0, part.rows) : q.codes.subarray(part.row0 * wpr, (part.row0 + part.rows) * wpr);
            expect(got.length).toBe(want.length);
            for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) badCodes++;
          }
          const [scale, offset] = [await w.scale.read(), await w.offset.read()];
          let maxAbs = 0, maxRel = 0, badBits = 0;
          for (const [g, c] of [[scale, q.scale], [offset, q.offset]] as const)
            for (let i = 0; i < c.length; i++) {
              if (bits(g)[i] !== bits(c)[i]) badBits++;
              const e = Math.abs(g[i] - c[i]);
              maxAbs = Math.max(maxAbs, e);
              if (c[i] !== 0) maxRel = Math.max(maxRel, e / Math.abs(c[i]));
            }
          console.log(`${f.name} ${rows}×${cols}: ${w.codeParts.length} part(s), code words differing ${badCodes}, scale/offset max abs ${maxAbs.toExponential(2)} rel ${maxRel.toExponential(2)}, bit-differing ${badBits}`);
          expect(badCodes).toBe(0);
          expect(badBits).toBe(0);
        } finally {
          w.destroy();
        }
      });

  it('refuses a type without a kernel', async () => {
    const ctx = await gpu();
    expect(() => uploadGgufBlocks(ctx, GgmlType.Q5_K, new Uint8Array(176), 1, 256)).toThrow(/Q5_K has no GPU conversion kernel/);
  });
});
