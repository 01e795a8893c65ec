// The lattice-grid i-quant codecs (src/quant/vq/grid_codecs.ts) on llama.cpp's
// own files: for every blk.* 2-D tensor of random-llama-256 quantized to each
// type, blocks ⇄ VqTensor is lossless, the VqTensor dequantizes to what the
// reference dequantizer (src/quant/blocks/iquants.ts) gives, that is close to
// the F32 original (a wrong grid or sign convention would not be), and the
// exact and free views start at, and refit to, the file's own fields.
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { findTensor, readGguf, readTensorBytes, readTensorF32 } from '../../src/io/gguf/reader.ts';
import { BLOCK_FORMATS, GgmlType, type SupportedType } from '../../src/quant/formats.ts';
import { GRID_CODECS } from '../../src/quant/vq/grid_codecs.ts';
import { vqCodec } from '../../src/quant/vq/codecs.ts';
import { dequantizeVq, vqIndexWords, vqWordsPerRow } from '../../src/quant/vq/vqtensor.ts';
import { applyParametrization } from '../../src/quant/parametrize.ts';

type GgufFile = Awaited<ReturnType<typeof readGguf>>;
const DIR = 'models/random-llama-256';
const TYPES = ['IQ1_S', 'IQ1_M', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ3_XXS', 'IQ3_S'] as const;
// Relative RMS error against the F32 weights (measured: IQ1_S 0.49, IQ1_M 0.46, IQ2_XXS 0.35, IQ2_XS 0.30,
// IQ2_S 0.25, IQ3_XXS 0.18, IQ3_S 0.14). A wrong grid, sign or delta convention gives ≳ 1.
const RMS_BOUND: Record<(typeof TYPES)[number], number> = { IQ1_S: 0.6, IQ1_M: 0.6, IQ2_XXS: 0.4, IQ2_XS: 0.35, IQ2_S: 0.3, IQ3_XXS: 0.25, IQ3_S: 0.2 };

async function open(rel: string): Promise<GgufFile | null> {
  const path = fixture(rel);
  return path ? readGguf(await fileSource(path)) : null;
}

const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('grid i-quant codecs on llama.cpp files', () => {
  it('has one codec per grid type, registered', () => {
    expect(GRID_CODECS.map((c) => GgmlType[c.type]).sort()).toEqual([...TYPES].sort());
    for (const t of TYPES) expect(vqCodec(GgmlType[t]).bytesPerBlock).toBe(BLOCK_FORMATS[GgmlType[t] as SupportedType].bytesPerBlock);
  });

  for (const type of TYPES)
    it(type, async () => {
      const f = await open(`${DIR}/random-llama-256-${type}.gguf`);
      const ref = await open(`${DIR}/random-llama-256-F32.gguf`);
      if (!f || !ref) return;
      try {
        let n = 0;
        let maxAbs = 0;
        let maxRel = 0;
        let errSq = 0;
        let refSq = 0;
        let worstRefit = 0;
        for (const t of f.tensors) {
          if (!t.name.startsWith('blk.') || t.ne.length !== 2) continue;
          expect(GgmlType[t.type], t.name).toBe(type);
          const codec = vqCodec(t.type);
          const [cols, rows] = t.ne;
          const bytes = await readTensorBytes(f, t);
          const { q, origin } = codec.decode(bytes, rows, cols);
          // (a) lossless both ways
          expect(Buffer.from(codec.encode(q, origin)).equals(Buffer.from(bytes)), `${t.name} bytes round trip`).toBe(true);
          // (b) the VqTensor's values are the reference dequantizer's, bit for bit
          const want = new Float32Array(rows * cols);
          BLOCK_FORMATS[t.type as SupportedType].dequantize(bytes, want, bytes.length / codec.bytesPerBlock);
          const got = dequantizeVq(q);
          for (let i = 0; i < got.length; i++) {
            const e = Math.abs(got[i] - want[i]);
            maxAbs = Math.max(maxAbs, e);
            if (want[i] !== 0) maxRel = Math.max(maxRel, e / Math.abs(want[i]));
          }
          expect(sameBits(got, want), `${t.name} dequantized bit for bit`).toBe(true);
          // (c) close to the F32 original
          const orig = await readTensorF32(ref, findTensor(ref, t.name)!);
          for (let i = 0; i < got.length; i++) {
            errSq += (got[i] - orig[i]) ** 2;
            refSq += orig[i] ** 2;
          }
          // (d) the exact view starts at the file's scales and writes back the same bits
          const view = codec.exactView(q, origin)!;
          expect(sameBits(applyParametrization(view, view.theta).scale, q.scale), `${t.name} exact view scale`).toBe(true);
          const back = codec.withExactTheta(origin, view.theta);
          expect(back.d).toEqual(origin.d);
          expect(back.sub).toEqual(origin.sub);
          const same = codec.refit(origin, q.scale);
          expect(same.maxRelErr, `${t.name} refit of its own scales`).toBe(0);
          expect(same.origin.d).toEqual(origin.d);
          expect(same.origin.sub).toEqual(origin.sub);
          expect(Buffer.from(codec.encode(q, same.origin)).equals(Buffer.from(bytes))).toBe(true);
          const perturbed = q.scale.map((s) => s * 1.03);
          const moved = codec.refit(origin, perturbed);
          expect(moved.maxRelErr, `${t.name} refit of scales ×1.03`).toBeLessThan(5e-3);
          worstRefit = Math.max(worstRefit, moved.maxRelErr);
          // (e) cut-short bytes and bad shapes are refused, naming the type
          expect(() => codec.decode(bytes.subarray(0, bytes.length - 1), rows, cols)).toThrow(RangeError);
          expect(() => codec.decode(bytes.subarray(0, bytes.length - 1), rows, cols)).toThrow(type);
          expect(() => codec.decode(bytes, (rows * cols) / 128, 128)).toThrow(/multiple of the block size/);
          n++;
        }
        const rms = Math.sqrt(errSq / refSq);
        console.log(`${type}: ${n} tensors; vs reference max abs ${maxAbs.toExponential(2)}, max rel ${maxRel.toExponential(2)}; vs F32 rel RMS ${rms.toFixed(4)}; refit ×1.03 max rel ${worstRefit.toExponential(2)}`);
        expect(n).toBeGreaterThan(0);
        expect(rms).toBeLessThan(RMS_BOUND[type]);
      } finally {
        await f?.source.close?.();
        await ref?.source.close?.();
      }
    });
});

describe('grid i-quant codecs: what the formats cannot store', () => {
  const block = (type: GgmlType) => new Uint8Array(vqCodec(type).bytesPerBlock);

  it('refuses an odd-parity sign byte where only 7 sign bits are stored', () => {
    for (const type of [GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ3_XXS]) {
      const c = vqCodec(type);
      const { q, origin } = c.decode(block(type), 1, 256);
      q.codes[vqIndexWords(q)] = 1; // one negated weight in the first 8
      expect(() => c.encode(q, origin)).toThrow(/odd parity/);
      q.codes[vqIndexWords(q)] = 3; // two: even parity, stored
      const back = c.decode(c.encode(q, origin), 1, 256);
      expect(back.q.codes).toEqual(q.codes);
    }
  });

  it('keeps explicit sign bytes (IQ2_S, IQ3_S) as they are', () => {
    for (const type of [GgmlType.IQ2_S, GgmlType.IQ3_S]) {
      const c = vqCodec(type);
      const { q, origin } = c.decode(block(type), 1, 256);
      q.codes[vqIndexWords(q) + 3] = 0x80000001;
      expect(c.decode(c.encode(q, origin), 1, 256).q.codes).toEqual(q.codes);
    }
  });

  it('IQ1_S needs one delta sign per 32 weights; IQ1_M has one per 8', () => {
    const s = vqCodec(GgmlType.IQ1_S);
    const a = s.decode(block(GgmlType.IQ1_S), 1, 256);
    a.q.codes[0] = 2048; // vector 0 takes −1/8, vector 1 of the same sub-block +1/8
    expect(() => s.encode(a.q, a.origin)).toThrow(/delta/);
    a.q.codes[0] = (2048 | (2048 << 16)) >>> 0;
    a.q.codes[1] = (2048 | (2048 << 16)) >>> 0;
    expect(s.decode(s.encode(a.q, a.origin), 1, 256).q.codes).toEqual(a.q.codes);
    const m = vqCodec(GgmlType.IQ1_M);
    const b = m.decode(block(GgmlType.IQ1_M), 1, 256);
    b.q.codes[0] = 2048 | (2047 << 16);
    expect(m.decode(m.encode(b.q, b.origin), 1, 256).q.codes).toEqual(b.q.codes);
    expect(vqWordsPerRow(b.q)).toBe(16); // unsigned: index words only
  });

  it('IQ1_M spreads the fp16 scale over the four scale nibbles', () => {
    const m = vqCodec(GgmlType.IQ1_M);
    const { q, origin } = m.decode(block(GgmlType.IQ1_M), 1, 256);
    const o = m.withExactTheta(origin, [1.5]); // 0x3e00
    expect(o.d[0]).toBe(0x3e00);
    const bytes = m.encode(q, o);
    expect([bytes[49] >> 4, bytes[51] >> 4, bytes[53] >> 4, bytes[55] >> 4]).toEqual([0x0, 0x0, 0xe, 0x3]);
    const back = m.decode(bytes, 1, 256);
    expect(back.q.scale[0]).toBe(1.5);
  });

  it('refits free scales per block and reports the error', () => {
    const c = vqCodec(GgmlType.IQ3_S);
    const { origin } = c.decode(block(GgmlType.IQ3_S), 1, 256);
    const target = Float32Array.from([1, 3, 5, 7, 9, 11, 13, 31]).map((x) => x * 0.01);
    const { origin: o, maxRelErr } = c.refit(origin, target);
    expect(Array.from(o.sub!)).toEqual([0, 1, 2, 3, 4, 5, 6, 15]);
    expect(maxRelErr).toBeLessThan(1e-3);
    // Targets a sub-scale cannot reach (ratio beyond 31) cost a reported error.
    const far = c.refit(origin, Float32Array.from([1, 1, 1, 1, 1, 1, 1, 100]));
    expect(far.maxRelErr).toBeGreaterThan(0.5);
  });
});
