// The block-format table: each decoder against a per-element restatement of the
// layout in docs/formats.md §2.1 on random blocks, the K-quant scale codecs
// against every block llama.cpp wrote, and the unsupported-type errors.
import { describe, expect, it } from 'vitest';
import { UnsupportedError } from '../../src/base/errors.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { readGguf, readTensorBytes } from '../../src/io/gguf/reader.ts';
import { f16ToF32, f32ToF16 } from '../../src/quant/f16.ts';
import { BLOCK_FORMATS, formatOf, ggmlTypeInfo, ggmlTypeName, GgmlType, isSupportedType, type SupportedType } from '../../src/quant/formats.ts';
import { fixture } from '../helpers/fixtures.ts';

/** Deterministic xorshift32 so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const u16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
const h = (b: Uint8Array, o: number) => f16ToF32(u16(b, o));
const i8 = (v: number) => (v << 24) >> 24;

/** y[e] for one block, written straight from the formulas in docs/formats.md §2.1. */
const DOC: Partial<Record<SupportedType, (b: Uint8Array, e: number) => number>> = {
  [GgmlType.Q4_0]: (b, e) => (((b[2 + (e % 16)] >> (e < 16 ? 0 : 4)) & 15) - 8) * h(b, 0),
  [GgmlType.Q4_1]: (b, e) => ((b[4 + (e % 16)] >> (e < 16 ? 0 : 4)) & 15) * h(b, 0) + h(b, 2),
  [GgmlType.Q5_0]: (b, e) => {
    const qh = (b[2] | (b[3] << 8) | (b[4] << 16) | (b[5] << 24)) >>> 0;
    const q = ((b[6 + (e % 16)] >> (e < 16 ? 0 : 4)) & 15) | (((qh >>> e) & 1) << 4);
    return (q - 16) * h(b, 0);
  },
  [GgmlType.Q5_1]: (b, e) => {
    const qh = (b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24)) >>> 0;
    const q = ((b[8 + (e % 16)] >> (e < 16 ? 0 : 4)) & 15) | (((qh >>> e) & 1) << 4);
    return q * h(b, 0) + h(b, 2);
  },
  [GgmlType.Q8_0]: (b, e) => i8(b[2 + e]) * h(b, 0),
  [GgmlType.Q2_K]: (b, e) => {
    const [n, j, hh, l] = [e >> 7, (e >> 5) & 3, (e >> 4) & 1, e & 15];
    const s = e >> 4;
    const q = (b[16 + 32 * n + 16 * hh + l] >> (2 * j)) & 3;
    return h(b, 80) * (b[s] & 15) * q - h(b, 82) * (b[s] >> 4);
  },
  [GgmlType.Q3_K]: (b, e) => {
    const [n, j, hh, l] = [e >> 7, (e >> 5) & 3, (e >> 4) & 1, e & 15];
    const s = e >> 4;
    const lo = (b[32 + 32 * n + 16 * hh + l] >> (2 * j)) & 3;
    const hi = (b[16 * hh + l] >> (4 * n + j)) & 1;
    const low4 = s < 8 ? b[96 + s] & 15 : b[96 + s - 8] >> 4;
    const hi2 = (b[96 + 8 + (s % 4)] >> (2 * Math.floor(s / 4))) & 3;
    return h(b, 108) * ((low4 | (hi2 << 4)) - 32) * (lo + 4 * hi - 4);
  },
  [GgmlType.Q4_K]: (b, e) => {
    const [c, hh, l] = [e >> 6, (e >> 5) & 1, e & 31];
    const [sc, m] = scaleMinK4(b, 4, 2 * c + hh);
    return h(b, 0) * sc * ((b[16 + 32 * c + l] >> (4 * hh)) & 15) - h(b, 2) * m;
  },
  [GgmlType.Q5_K]: (b, e) => {
    const [c, hh, l] = [e >> 6, (e >> 5) & 1, e & 31];
    const [sc, m] = scaleMinK4(b, 4, 2 * c + hh);
    const q = ((b[48 + 32 * c + l] >> (4 * hh)) & 15) + 16 * ((b[16 + l] >> (2 * c + hh)) & 1);
    return h(b, 0) * sc * q - h(b, 2) * m;
  },
  [GgmlType.Q6_K]: (b, e) => {
    const [n, k, l] = [e >> 7, (e >> 5) & 3, e & 31];
    const lo = (b[64 * n + 32 * (k & 1) + l] >> (4 * (k >> 1))) & 15;
    const hi = (b[128 + 32 * n + l] >> (2 * k)) & 3;
    return h(b, 208) * i8(b[192 + (e >> 4)]) * ((lo | (hi << 4)) - 32);
  },
};

function scaleMinK4(b: Uint8Array, o: number, j: number): [number, number] {
  const q = (i: number) => b[o + i];
  return j < 4 ? [q(j) & 63, q(j + 4) & 63] : [(q(j + 4) & 15) | ((q(j - 4) >> 6) << 4), (q(j + 4) >> 4) | ((q(j) >> 6) << 4)];
}

/** Every type sub4 decodes: floats, legacy, K-quants, and the codebook types (src/quant/vq/). */
const DECODED = ['F32', 'F16', 'BF16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ1_S', 'IQ1_M', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ3_XXS', 'IQ3_S', 'IQ4_NL', 'IQ4_XS', 'MXFP4', 'NVFP4', 'TQ1_0', 'TQ2_0'];

describe('block decoders match the documented layouts', () => {
  for (const [id, docY] of Object.entries(DOC)) {
    const type = Number(id) as SupportedType;
    it(ggmlTypeName(type), () => {
      const fmt = BLOCK_FORMATS[type];
      const rand = rng(type * 7919);
      const nBlocks = 16;
      const bytes = new Uint8Array(nBlocks * fmt.bytesPerBlock);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
      // Finite, normal f16 parameters so products are comparable.
      for (let b = 0; b < nBlocks; b++)
        for (const off of Object.values(fmt.f16Fields!)) {
          const v = f32ToF16((rand() - 0.5) * 0.2);
          bytes[b * fmt.bytesPerBlock + off] = v & 0xff;
          bytes[b * fmt.bytesPerBlock + off + 1] = v >> 8;
        }
      const y = new Float32Array(nBlocks * fmt.blockSize);
      fmt.dequantize(bytes, y, nBlocks);
      for (let b = 0; b < nBlocks; b++) {
        const blk = bytes.subarray(b * fmt.bytesPerBlock, (b + 1) * fmt.bytesPerBlock);
        for (let e = 0; e < fmt.blockSize; e++) {
          const want = Math.fround(docY(blk, e));
          if (y[b * fmt.blockSize + e] !== want) expect(y[b * fmt.blockSize + e], `block ${b} element ${e}`).toBe(want);
        }
      }
    });
  }

  it('F16, BF16 and F32 decode their little-endian values', () => {
    const src = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00]); // 1, -2, 2^-24
    const out = new Float32Array(3);
    BLOCK_FORMATS[GgmlType.F16].dequantize(src, out, 3);
    expect([...out]).toEqual([1, -2, 2 ** -24]);
    BLOCK_FORMATS[GgmlType.BF16].dequantize(new Uint8Array([0x80, 0x3f, 0x00, 0xc0]), out, 2);
    expect([out[0], out[1]]).toEqual([1, -2]);
    const f32 = new Uint8Array(9);
    new DataView(f32.buffer).setFloat32(1, 0.1, true); // odd offset: the decoder must not need alignment
    BLOCK_FORMATS[GgmlType.F32].dequantize(f32.subarray(1), out, 1);
    expect(out[0]).toBe(Math.fround(0.1));
  });
});

describe('K-quant scale codecs', () => {
  const FILES = ['Q2_K', 'Q3_K_M', 'Q4_K_M', 'Q5_K_M', 'Q6_K'].map((q) => `models/random-llama-256/random-llama-256-${q}.gguf`);
  it('decode → encode reproduces every packed scale field llama.cpp wrote, values in range', async () => {
    const counts = new Map<string, number>();
    for (const rel of FILES) {
      const p = fixture(rel);
      if (!p) return;
      const f = await readGguf(await fileSource(p));
      for (const t of f.tensors) {
        const codec = isSupportedType(t.type) ? BLOCK_FORMATS[t.type].scales : undefined;
        if (!codec) continue;
        const fmt = BLOCK_FORMATS[t.type as SupportedType];
        const bytes = await readTensorBytes(f, t);
        const sc = new Int32Array(16);
        const m = new Int32Array(16);
        for (let o = 0; o < bytes.length; o += fmt.bytesPerBlock) {
          codec.decode(bytes, o, sc, codec.mRange ? m : null);
          for (let s = 0; s < codec.count; s++) {
            const inRange =
              sc[s] >= codec.scRange[0] && sc[s] <= codec.scRange[1] && (!codec.mRange || (m[s] >= codec.mRange[0] && m[s] <= codec.mRange[1]));
            if (!inRange) expect.fail(`${t.name} block at byte ${o}: sub-block ${s} scale ${sc[s]} / min ${m[s]} out of range`);
          }
          const copy = bytes.slice(o, o + fmt.bytesPerBlock);
          copy.fill(0xa5, codec.offset, codec.offset + codec.bytes); // encode must overwrite the whole field
          codec.encode(sc.subarray(0, codec.count), codec.mRange ? m.subarray(0, codec.count) : null, copy, 0);
          const orig = bytes.subarray(o, o + fmt.bytesPerBlock);
          if (copy.some((v, i) => v !== orig[i])) expect([...copy], `${t.name} block at byte ${o}`).toEqual([...orig]);
        }
        counts.set(fmt.name, (counts.get(fmt.name) ?? 0) + bytes.length / fmt.bytesPerBlock);
      }
      await f.source.close?.();
    }
    console.log(`scale fields round-tripped: ${[...counts].map(([k, v]) => `${k} ${v} blocks`).join(', ')}`);
    expect(counts.size).toBe(5);
    expect(BLOCK_FORMATS[GgmlType.Q4_K].decodeScales).toBe(BLOCK_FORMATS[GgmlType.Q4_K].scales!.decode);
  });
});

describe('the type table', () => {
  it('declares a consistent layout for every supported type', () => {
    for (const fmt of Object.values(BLOCK_FORMATS)) {
      expect(ggmlTypeInfo(fmt.type)?.name).toBe(fmt.name);
      for (const off of Object.values(fmt.f16Fields ?? {})) expect(off + 2).toBeLessThanOrEqual(fmt.bytesPerBlock);
      if (fmt.scales) {
        expect(fmt.scales.count * fmt.scales.subBlockSize).toBe(fmt.blockSize);
        expect(fmt.scales.offset + fmt.scales.bytes).toBeLessThanOrEqual(fmt.bytesPerBlock);
      }
    }
    expect(Object.values(BLOCK_FORMATS).map((f) => f.name).sort()).toEqual(DECODED.slice().sort());
  });

  it('knows the unsupported ids by name and refuses them with the tensor named', () => {
    expect(ggmlTypeInfo(GgmlType.Q8_K)).toMatchObject({ name: 'Q8_K', blockSize: 256, bytesPerBlock: 292 });
    expect(ggmlTypeInfo(4)).toBeUndefined(); // Q4_2: removed upstream
    const err = (() => {
      try {
        formatOf(GgmlType.Q8_K, 'blk.0.ffn_up.weight', 'm.gguf');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(UnsupportedError);
    expect(String((err as Error).message)).toMatch(/^m\.gguf: tensor blk\.0\.ffn_up\.weight uses ggml block type Q8_K/);
    expect(() => formatOf(99, 't', 'm.gguf')).toThrow(/unknown type 99/);
    expect(formatOf(GgmlType.Q4_K, 't', 'm.gguf').name).toBe('Q4_K');
  });
});
