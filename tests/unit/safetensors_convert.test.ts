// The word-level BF16/F16 → f32 decoders (src/io/safetensors/convert.ts) and
// decodeF32Into's in-place alignment copy against the scalar oracles of
// src/quant/f16.ts, compared as raw bits: every one of the 65,536 patterns
// (subnormals, ±0, ±Inf, quiet and signalling NaNs with payloads), random
// values at every byte offset 0..7, odd element counts, and a reused output
// buffer full of garbage, so a decoder that skips an element cannot pass.
import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32Bits } from '../../src/quant/f16.ts';
import { decodeF32, decodeF32Into } from '../../src/io/safetensors/reader.ts';
import { DTYPES } from '../../src/io/safetensors/dtypes.ts';
import type { SafetensorsTensorInfo } from '../../src/io/safetensors/header.ts';
import { rng } from '../../src/gpu/random.ts';

const info = (dtype: 'BF16' | 'F16' | 'F32' | 'U8' | 'F64', n: number): SafetensorsTensorInfo =>
  ({ name: `t_${dtype}`, dtype, shape: [n], numel: n, begin: 0, end: (n * DTYPES[dtype].bits) / 8 }) as SafetensorsTensorInfo;

const isNanBits = (b: number) => (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0;

/**
 * The oracle's bits: each element through the scalar conversion, one at a time.
 * A BF16 NaN is expected with its exact bits (h << 16): the scalar path passes
 * it through a JS number, where V8's optimized code quiets a signalling NaN
 * (0xffb3 → 0xfff30000) and the interpreter does not, so the old element loop
 * kept or quieted it depending on the JIT tier; the word-level decoder never
 * lets a float through a number and always keeps it.
 */
function oracle(dtype: 'BF16' | 'F16', h: Uint16Array): Uint32Array {
  const f = dtype === 'BF16' ? bf16ToF32 : f16ToF32;
  return Uint32Array.from(h, (x) => {
    const b = f32Bits(f(x));
    return dtype === 'BF16' && isNanBits(b) ? (x << 16) >>> 0 : b;
  });
}

/** `h`'s bytes at byte offset `off` of a larger buffer (so the view is misaligned when off is odd or 2 mod 4). */
function at(h: Uint16Array, off: number): Uint8Array {
  const buf = new Uint8Array(off + h.byteLength + 3).fill(0xa5);
  buf.set(new Uint8Array(h.buffer, h.byteOffset, h.byteLength), off);
  return buf.subarray(off, off + h.byteLength);
}

describe('word-level BF16 / F16 decoding', () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  for (const dtype of ['BF16', 'F16'] as const) {
    it(`${dtype}: all 65,536 bit patterns match the scalar conversion bit for bit, at offsets 0..7`, () => {
      const want = oracle(dtype, all);
      let nan = 0;
      for (let off = 0; off < 8; off++) {
        const out = new Float32Array(65536).fill(123.5);
        decodeF32Into(info(dtype, 65536), at(all, off), out);
        const got = new Uint32Array(out.buffer);
        let diff = 0;
        for (let i = 0; i < 65536; i++) if (got[i] !== want[i]) diff++;
        expect(diff, `${dtype} at byte offset ${off}`).toBe(0);
        nan = got.filter(isNanBits).length;
        if (dtype === 'F16') expect(new Set(got.filter(isNanBits))).toEqual(new Set([0x7fc00000]));
      }
      // BF16: 2 signs × 127 non-zero mantissas, each payload kept; F16: 2 × 1023, each the table's NaN.
      expect(nan).toBe(dtype === 'BF16' ? 254 : 2046);
      console.log(`${dtype}: 65536 patterns × 8 offsets, 0 differing words; ${nan} NaN patterns`);
    });

    it(`${dtype}: random tensors of odd and even lengths, in a dirty reused buffer`, () => {
      const r = rng(dtype === 'BF16' ? 0xb16 : 0xf16);
      const scratch = new Float32Array(5000);
      for (const n of [1, 2, 3, 7, 8, 33, 1001, 4096, 4999]) {
        const h = Uint16Array.from({ length: n }, () => Math.floor(r() * 65536));
        const want = oracle(dtype, h);
        for (const off of [0, 1, 2, 3, 6]) {
          scratch.fill(-7.25);
          const out = scratch.subarray(0, n);
          decodeF32Into(info(dtype, n), at(h, off), out);
          expect([...new Uint32Array(out.buffer, 0, n)], `${dtype} n=${n} off=${off}`).toEqual([...want]);
          expect(scratch[n] ?? -7.25, 'nothing past the tensor is written').toBe(-7.25);
          expect([...new Uint32Array(decodeF32(info(dtype, n), at(h, off)).buffer)]).toEqual([...want]);
        }
      }
    });
  }

  it('the in-place alignment copy also serves F32 and U8, and 8-byte dtypes take a separate copy', () => {
    const x = Float32Array.from([1.5, -2, NaN, 3e-42, Infinity]);
    const raw = new Uint8Array(x.buffer);
    const out = new Float32Array(5);
    decodeF32Into(info('F32', 5), at(new Uint16Array(x.buffer), 1), out);
    expect([...new Uint32Array(out.buffer)]).toEqual([...new Uint32Array(x.buffer)]);
    const u8 = Uint8Array.from([0, 1, 255, 7]);
    decodeF32Into(info('U8', 4), u8, out.subarray(0, 4));
    expect([...out.subarray(0, 4)]).toEqual([0, 1, 255, 7]);
    const d = Float64Array.from([0.5, -3]);
    const buf = new Uint8Array(17);
    buf.set(new Uint8Array(d.buffer), 1);
    decodeF32Into(info('F64', 2), buf.subarray(1), out.subarray(0, 2));
    expect([...out.subarray(0, 2)]).toEqual([0.5, -3]);
    expect(() => decodeF32Into(info('F32', 5), raw, new Float32Array(4))).toThrow(RangeError);
  });
});
