// The legacy quantizers (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) against llama.cpp's own
// output: every tensor llama.cpp stored in one of those types (and every F16
// fallback tensor, through f32ToF16) must come out byte for byte from its F32 source.
import { describe, expect, it } from 'vitest';
import { fileSource } from '../../src/io/source.node.ts';
import { findTensor, readGguf, readTensorBytes, readTensorF32 } from '../../src/io/gguf/reader.ts';
import type { GgufFile } from '../../src/io/gguf/types.ts';
import { f16ToF32, f32ToF16 } from '../../src/quant/f16.ts';
import { GgmlType, ggmlTypeName } from '../../src/quant/formats.ts';
import { isLegacyType, quantizeLegacy, quantizeRowQ4_0, quantizeRowQ4_1, quantizeRowQ5_0, quantizeRowQ8_0 } from '../../src/quant/quantize/ggml_legacy.ts';
import { fixture } from '../helpers/fixtures.ts';

const CASES: Array<[quantized: string, source: string]> = [
  ['models/stories260K-quantized/stories260K-q4_0.gguf', 'models/stories260K.gguf'],
  ['models/stories260K-quantized/stories260K-q4_1.gguf', 'models/stories260K.gguf'],
  ['models/stories260K-quantized/stories260K-q5_0.gguf', 'models/stories260K.gguf'],
  ['models/stories260K-quantized/stories260K-q5_1.gguf', 'models/stories260K.gguf'],
  ['models/stories260K-quantized/stories260K-q8_0.gguf', 'models/stories260K.gguf'],
  ['models/random-llama-256/random-llama-256-Q4_0.gguf', 'models/random-llama-256/random-llama-256-F32.gguf'],
  ['models/random-llama-256/random-llama-256-Q8_0.gguf', 'models/random-llama-256/random-llama-256-F32.gguf'],
];

function f16Row(x: Float32Array): Uint8Array {
  const out = new Uint8Array(x.length * 2);
  for (let i = 0; i < x.length; i++) {
    const h = f32ToF16(x[i]);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >> 8;
  }
  return out;
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

async function open(rel: string): Promise<GgufFile | null> {
  const p = fixture(rel);
  return p ? readGguf(await fileSource(p)) : null;
}

describe('legacy quantizers equal llama.cpp byte for byte', () => {
  for (const [qRel, srcRel] of CASES) {
    it(qRel.split('/').pop()!, async () => {
      const qf = await open(qRel);
      const sf = await open(srcRel);
      if (!qf || !sf) return;
      const compared = new Map<string, number>();
      const skipped = new Map<string, number>();
      const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
      try {
        for (const t of qf.tensors) {
          const type = ggmlTypeName(t.type);
          if (!isLegacyType(t.type) && t.type !== GgmlType.F16) {
            bump(skipped, type);
            continue;
          }
          const st = findTensor(sf, t.name);
          expect(st, `source tensor ${t.name}`).toBeDefined();
          expect(st!.type).toBe(GgmlType.F32);
          expect(st!.ne).toEqual(t.ne);
          const x = await readTensorF32(sf, st!);
          const ours = isLegacyType(t.type) ? quantizeLegacy(t.type, x) : f16Row(x);
          const theirs = await readTensorBytes(qf, t);
          const at = firstDiff(ours, theirs);
          if (at >= 0) {
            const bpb = t.type === GgmlType.F16 ? 2 : ours.length / (x.length / 32);
            const blk = Math.floor(at / bpb);
            throw new Error(
              `${t.name} (${type}): first differing byte ${at} (block ${blk}): ours ${[...ours.subarray(blk * bpb, blk * bpb + bpb)]} vs llama.cpp ${[...theirs.subarray(blk * bpb, blk * bpb + bpb)]}`,
            );
          }
          bump(compared, type);
        }
      } finally {
        await qf.source.close?.();
        await sf.source.close?.();
      }
      const fmt = (m: Map<string, number>) => [...m].map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
      const legacy = [...compared].filter(([k]) => k !== 'F16').reduce((a, [, v]) => a + v, 0);
      console.log(`${qRel.split('/').pop()}: ${legacy} quantized tensors byte-identical (${fmt(compared)}); skipped (other types): ${fmt(skipped)}`);
      expect(legacy).toBeGreaterThan(0);
    });
  }
});

describe('legacy quantizers on hand-made blocks', () => {
  const block = (vals: number[]) => {
    const x = new Float32Array(32);
    vals.forEach((v, i) => (x[i] = v));
    return x;
  };

  it('Q4_0: d = max/-8 from the signed largest value; the opposite extreme clamps to 15', () => {
    const out = new Uint8Array(18);
    quantizeRowQ4_0(block([1, -1, 0.5]), out);
    expect(f16ToF32(out[0] | (out[1] << 8))).toBe(-0.125);
    // x=1 → 1·(-8)+8.5 = 0.5 → 0; x=-1 → 16.5 → 16 → MIN(15); x=0.5 → 4.5 → 4; zeros → 8.
    expect(out[2] & 15).toBe(0);
    expect(out[3] & 15).toBe(15);
    expect(out[4] & 15).toBe(4);
    expect(out[5]).toBe(0x88);
  });

  it('all-zero blocks give d = 0 and the zero code', () => {
    const z = new Float32Array(32);
    const q40 = new Uint8Array(18);
    quantizeRowQ4_0(z, q40);
    // d = 0/-8 is -0 in C, so llama.cpp stores the f16 -0 (0x8000).
    expect([...q40]).toEqual([0, 0x80, ...new Array(16).fill(0x88)]);
    const q41 = new Uint8Array(20);
    quantizeRowQ4_1(z, q41);
    expect([...q41]).toEqual(new Array(20).fill(0));
    const q50 = new Uint8Array(22);
    quantizeRowQ5_0(z, q50);
    expect([...q50.subarray(0, 2)]).toEqual([0, 0x80]);
    expect([...q50.subarray(2, 6)]).toEqual([0xff, 0xff, 0xff, 0xff]); // code 16: every 5th bit set
    expect([...q50.subarray(6)]).toEqual(new Array(16).fill(0));
  });

  it('Q8_0: roundf rounds halves away from zero', () => {
    const out = new Uint8Array(34);
    quantizeRowQ8_0(block([127, -63.5, 63.5, 0.49]), out);
    expect(f16ToF32(out[0] | (out[1] << 8))).toBe(1);
    expect((out[3] << 24) >> 24).toBe(-64);
    expect(out[4]).toBe(64);
    expect(out[5]).toBe(0);
  });

  it('rejects lengths that are not whole blocks', () => {
    expect(() => quantizeLegacy(GgmlType.Q4_0, new Float32Array(33))).toThrow(/multiple of 32/);
  });
});
