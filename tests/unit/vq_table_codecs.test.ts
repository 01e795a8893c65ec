// The 16-value-table, FP4 and ternary codecs (src/quant/vq/table_codecs.ts) on
// llama.cpp's own files: every blk.* matrix of each type decodes to a VqTensor
// that re-encodes to the same bytes, dequantizes to what the reference
// dequantizer (src/quant/blocks/iq4.ts, fp4_ternary.ts) gives, and is close to
// the F32 weights it was quantized from (a wrong table, scale convention or a
// missing ×0.5 fails that); the exact view starts at the stored scales and the
// refit keeps or closely reproduces them; truncated bytes are refused.
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { findTensor, readGguf, readTensorBytes, readTensorF32 } from '../../src/io/gguf/reader.ts';
import type { GgufFile } from '../../src/io/gguf/types.ts';
import { BLOCK_FORMATS, GgmlType } from '../../src/quant/formats.ts';
import { applyParametrization } from '../../src/quant/parametrize.ts';
import { vqCodec } from '../../src/quant/vq/codecs.ts';
import { TABLE_CODECS } from '../../src/quant/vq/table_codecs.ts';
import { dequantizeVq } from '../../src/quant/vq/vqtensor.ts';
import { f16ToF32, f32ToF16 } from '../../src/quant/f16.ts';

const DIR = 'models/random-llama-256';
const TYPES = [GgmlType.IQ4_NL, GgmlType.IQ4_XS, GgmlType.MXFP4, GgmlType.NVFP4, GgmlType.TQ1_0, GgmlType.TQ2_0] as const;
// Relative RMS error against the F32 weights: 4-bit tables are close; ternary of random (non-ternary) weights is
// coarse (≈ 0.81: llama.cpp's d is the block's absmax, so most Gaussian weights round to 0), hence also the d = absmax check below.
const F32_BOUND: Record<number, number> = {
  [GgmlType.IQ4_NL]: 0.15, [GgmlType.IQ4_XS]: 0.15, [GgmlType.MXFP4]: 0.15, [GgmlType.NVFP4]: 0.15, [GgmlType.TQ1_0]: 0.85, [GgmlType.TQ2_0]: 0.85,
};
// Largest relative scale error of a refit of every scale ×1.03: fp16 fields round to 2^-11,
// IQ4_XS also picks its 6-bit sub-scales, MXFP4 rounds to a power of two, NVFP4 to 3 mantissa bits.
const REFIT_BOUND: Record<number, number> = {
  [GgmlType.IQ4_NL]: 1e-3, [GgmlType.IQ4_XS]: 0.05, [GgmlType.MXFP4]: 1 / 3, [GgmlType.NVFP4]: 1 / 16, [GgmlType.TQ1_0]: 1e-3, [GgmlType.TQ2_0]: 1e-3,
};

async function open(rel: string): Promise<{ f: GgufFile; close: () => Promise<void> } | null> {
  const path = fixture(rel);
  if (!path) return null;
  const src = await fileSource(path);
  return { f: await readGguf(src), close: async () => void (await src.close?.()) };
}

function maxErrs(got: Float32Array, want: Float32Array): { abs: number; rel: number } {
  let abs = 0;
  let big = 0;
  for (let i = 0; i < got.length; i++) {
    abs = Math.max(abs, Math.abs(got[i] - want[i]));
    big = Math.max(big, Math.abs(want[i]));
  }
  return { abs, rel: abs / Math.max(big, 1e-30) };
}

function relRms(got: Float32Array, want: Float32Array): { err: number; norm: number } {
  let err = 0;
  let norm = 0;
  for (let i = 0; i < got.length; i++) {
    err += (got[i] - want[i]) ** 2;
    norm += want[i] ** 2;
  }
  return { err, norm };
}

/** Checks (a), (b), (d), (e) on one tensor; returns its dequantized weights. */
function checkTensor(type: GgmlType, name: string, bytes: Uint8Array, rows: number, cols: number, stats: { abs: number; rel: number; refit: number }): { got: Float32Array; scale: Float32Array } {
  const codec = vqCodec(type);
  const tag = `${name} (${GgmlType[type]})`;
  const { q, origin } = codec.decode(bytes, rows, cols);
  // (a) lossless
  expect(Buffer.from(codec.encode(q, origin)).equals(Buffer.from(bytes)), `${tag} bytes round trip`).toBe(true);
  // (b) the reference dequantizer
  const f = BLOCK_FORMATS[type as keyof typeof BLOCK_FORMATS];
  const want = new Float32Array(rows * cols);
  f.dequantize(bytes, want, bytes.length / f.bytesPerBlock);
  const got = dequantizeVq(q);
  const e = maxErrs(got, want);
  stats.abs = Math.max(stats.abs, e.abs);
  stats.rel = Math.max(stats.rel, e.rel);
  expect(e.abs, `${tag} dequantized values`).toBe(0);
  // (d) views and refit
  const view = codec.exactView(q, origin);
  if (type === GgmlType.MXFP4 || type === GgmlType.NVFP4) expect(view).toBeNull();
  else {
    expect(view, `${tag} exact view`).not.toBeNull();
    const eff = applyParametrization(view!, view!.theta);
    expect(Array.from(eff.scale), `${tag} exact view scale`).toEqual(Array.from(q.scale));
    expect(eff.offset.every((o) => o === 0)).toBe(true);
    const back = codec.withExactTheta(origin, view!.theta);
    expect(Array.from(back.d)).toEqual(Array.from(origin.d));
    expect(back.sub && Array.from(back.sub)).toEqual(origin.sub && Array.from(origin.sub));
  }
  const same = codec.refit(origin, q.scale);
  expect(same.maxRelErr, `${tag} refit of its own scales`).toBe(0);
  expect(Array.from(same.origin.d)).toEqual(Array.from(origin.d));
  expect(same.origin.sub && Array.from(same.origin.sub)).toEqual(origin.sub && Array.from(origin.sub));
  const target = q.scale.map((s) => s * 1.03);
  const moved = codec.refit(origin, target);
  stats.refit = Math.max(stats.refit, moved.maxRelErr);
  expect(moved.maxRelErr, `${tag} refit ×1.03`).toBeLessThanOrEqual(REFIT_BOUND[type]);
  // the reported error is what the written blocks decode to
  const re = codec.decode(codec.encode(q, moved.origin), rows, cols).q.scale;
  let worst = 0;
  for (let g = 0; g < re.length; g++) worst = Math.max(worst, Math.abs(re[g] - target[g]) / Math.max(Math.abs(target[g]), 1e-30));
  expect(worst, `${tag} refit reported error`).toBeCloseTo(moved.maxRelErr, 6);
  // (e) cut-short bytes and a bad row length
  expect(() => codec.decode(bytes.subarray(0, bytes.length - 1), rows, cols)).toThrow(RangeError);
  expect(() => codec.decode(bytes.subarray(0, bytes.length - 1), rows, cols)).toThrow(GgmlType[type]);
  expect(() => codec.decode(bytes, rows * 2, cols / 2 + 1)).toThrow(RangeError);
  return { got, scale: q.scale };
}

describe('table codecs (IQ4_NL, IQ4_XS, MXFP4, NVFP4, TQ1_0, TQ2_0)', () => {
  it('registers one codec per type', () => {
    expect(TABLE_CODECS.map((c) => GgmlType[c.type]).sort()).toEqual(TYPES.map((t) => GgmlType[t]).sort());
    for (const t of TYPES) expect(BLOCK_FORMATS[t as keyof typeof BLOCK_FORMATS]?.dequantize, GgmlType[t]).toBeTypeOf('function');
  });

  for (const type of TYPES)
    it(`random-llama-256-${GgmlType[type]}: every blk.* matrix`, async () => {
      const file = await open(`${DIR}/random-llama-256-${GgmlType[type]}.gguf`);
      const ref = await open(`${DIR}/random-llama-256-F32.gguf`);
      if (!file || !ref) return;
      try {
        const stats = { abs: 0, rel: 0, refit: 0 };
        let n = 0;
        let err = 0;
        let norm = 0;
        const other: string[] = [];
        for (const t of file.f.tensors) {
          if (!t.name.startsWith('blk.') || t.ne.length !== 2) continue;
          if (t.type !== type) {
            other.push(`${t.name}:${GgmlType[t.type]}`);
            continue;
          }
          const [cols, rows] = t.ne;
          const { got, scale } = checkTensor(type, t.name, await readTensorBytes(file.f, t), rows, cols, stats);
          // (c) close to the F32 original
          const orig = findTensor(ref.f, t.name);
          expect(orig, `${t.name} in the F32 file`).toBeDefined();
          const w = await readTensorF32(ref.f, orig!);
          const r = relRms(got, w);
          expect(Math.sqrt(r.err / r.norm), `${t.name} vs F32`).toBeLessThan(F32_BOUND[type]);
          if (type === GgmlType.TQ1_0 || type === GgmlType.TQ2_0)
            // quantize_row_tq{1,2}_0_ref: d = absmax of the block (rounded to fp16), so the table is {−1, 0, 1}·d.
            for (let g = 0; g < scale.length; g++) {
              let amax = 0;
              for (let k = 0; k < 256; k++) amax = Math.max(amax, Math.abs(w[g * 256 + k]));
              expect(Math.abs(scale[g] - amax) / amax, `${t.name} block ${g}: d vs absmax`).toBeLessThan(2e-3);
            }
          err += r.err;
          norm += r.norm;
          n++;
        }
        const rms = Math.sqrt(err / norm);
        console.log(
          `${GgmlType[type]}: ${n} tensors; vs reference dequantizer max abs ${stats.abs} rel ${stats.rel}; vs F32 rel RMS ${rms.toFixed(4)}; refit ×1.03 max rel ${stats.refit.toExponential(3)}` +
            (other.length ? `; other types skipped: ${other.join(', ')}` : ''),
        );
        expect(n).toBeGreaterThan(0);
        expect(rms).toBeLessThan(F32_BOUND[type]);
      } finally {
        await file.close();
        await ref.close();
      }
    });

  it('stories260K-iq4_nl: every IQ4_NL tensor', async () => {
    const file = await open('models/stories260K-quantized/stories260K-iq4_nl.gguf');
    if (!file) return;
    try {
      const stats = { abs: 0, rel: 0, refit: 0 };
      let n = 0;
      for (const t of file.f.tensors) {
        if (t.type !== GgmlType.IQ4_NL) continue;
        const cols = t.ne[0];
        const rows = t.ne.slice(1).reduce((a: number, b: number) => a * b, 1);
        checkTensor(GgmlType.IQ4_NL, t.name, await readTensorBytes(file.f, t), rows, cols, stats);
        n++;
      }
      console.log(`stories260K IQ4_NL: ${n} tensors; vs reference dequantizer max abs ${stats.abs} rel ${stats.rel}; refit ×1.03 max rel ${stats.refit.toExponential(3)}`);
      expect(n).toBeGreaterThan(0);
    } finally {
      await file.close();
    }
  });

  it('refits scales to the nearest stored fields', () => {
    // IQ4_XS: mixed-sign integer multiples of one fp16 step are found exactly (d and the 6-bit ls = a + 32).
    const d = f16ToF32(f32ToF16(0.01));
    const a = [-32, 31, 0, 5, -7, 1, 2, 3];
    const xs = vqCodec(GgmlType.IQ4_XS).refit({ type: GgmlType.IQ4_XS, d: Uint16Array.of(0), sub: new Int32Array(8) }, Float32Array.from(a, (k) => d * k));
    expect(xs.maxRelErr).toBe(0);
    expect(f16ToF32(xs.origin.d[0])).toBe(d);
    expect(Array.from(xs.origin.sub!)).toEqual(a.map((k) => k + 32));
    // fp16 d: zero stays zero.
    const nl = vqCodec(GgmlType.IQ4_NL).refit({ type: GgmlType.IQ4_NL, d: Uint16Array.of(0x3c00), sub: null }, Float32Array.of(0));
    expect([nl.origin.d[0], nl.maxRelErr]).toEqual([0, 0]);
    // MXFP4: 2^(e−128), nearest linearly (0.2 → 0.25, e = 126); a non-positive target takes e = 0.
    const mx = vqCodec(GgmlType.MXFP4).refit({ type: GgmlType.MXFP4, d: Uint16Array.of(127, 127), sub: null }, Float32Array.of(0.2, -1));
    expect(Array.from(mx.origin.d)).toEqual([126, 0]);
    // NVFP4: ue4m3 with ggml's ×0.5: 1.0 is byte 0x40 (raw 2.0); 0.53 rounds to 0.5 (0x38) over 0.5625 (0x39).
    const nv = vqCodec(GgmlType.NVFP4).refit({ type: GgmlType.NVFP4, d: new Uint16Array(4), sub: null }, Float32Array.of(1, 0.53, 0, 240));
    expect(Array.from(nv.origin.d)).toEqual([0x40, 0x38, 0, 0x7e]);
    // No exact view for the 8-bit float scales.
    expect(() => vqCodec(GgmlType.MXFP4).withExactTheta(mx.origin, [1, 1])).toThrow(RangeError);
  });

  it('decodes a 1024×1024 matrix of each type quickly', () => {
    const rows = 1024;
    const cols = 1024;
    for (const type of TYPES) {
      const codec = vqCodec(type);
      const bytes = new Uint8Array(((rows * cols) / codec.blockSize) * codec.bytesPerBlock);
      let s = 12345;
      for (let i = 0; i < bytes.length; i++) bytes[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
      const t0 = performance.now();
      const { q, origin } = codec.decode(bytes, rows, cols);
      const t1 = performance.now();
      const out = codec.encode(q, origin);
      const t2 = performance.now();
      console.log(`${GgmlType[type]}: decode ${((t1 - t0) / 1.048576).toFixed(1)} ns/weight, encode ${((t2 - t1) / 1.048576).toFixed(1)} ns/weight`);
      // Random bytes are canonical for every type but TQ1_0 (another byte rounding of the same trits).
      if (type !== GgmlType.TQ1_0) expect(Buffer.from(out).equals(Buffer.from(bytes)), GgmlType[type]).toBe(true);
      expect(t1 - t0).toBeLessThan(1000);
      // Arbitrary bytes (NaN/inf scales, TQ2_0's q = 3, non-canonical TQ1_0 bytes, NVFP4's 0x7F and bit 7) decode to ggml's values.
      const few = bytes.subarray(0, ((64 * cols) / codec.blockSize) * codec.bytesPerBlock);
      const f = BLOCK_FORMATS[type as keyof typeof BLOCK_FORMATS];
      const want = new Float32Array(64 * cols);
      f.dequantize(few, want, few.length / f.bytesPerBlock);
      const got = dequantizeVq(codec.decode(few, 64, cols).q);
      let bad = 0;
      for (let i = 0; i < got.length; i++) if (!(got[i] === want[i] || (Number.isNaN(got[i]) && Number.isNaN(want[i])))) bad++;
      expect(bad, `${GgmlType[type]} random bytes`).toBe(0);
    }
  });
});
