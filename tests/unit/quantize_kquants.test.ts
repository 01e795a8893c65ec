// The K-quant reference quantizers (Q2_K..Q6_K) against llama.cpp's own files:
// every tensor llama.cpp stored in a K-quant type is re-quantized from the F32
// source of the same name. The goal is byte identity; independently, our
// reconstruction RMSE (both dequantized through the block table) must never be
// more than 1 % worse than llama.cpp's, per tensor and per type. Plus hand-made
// inputs: nearest_int rounding, zero blocks, argument checks, quality ordering.
import { describe, expect, it } from 'vitest';
import { fileSource } from '../../src/io/source.node.ts';
import { findTensor, readGguf, readTensorBytes, readTensorF32 } from '../../src/io/gguf/reader.ts';
import { BLOCK_FORMATS, GgmlType, ggmlTypeName } from '../../src/quant/formats.ts';
import { nearestInt } from '../../src/quant/quantize/kquants_fit.ts';
import { KQUANT_QUANTIZERS, isKQuantType, quantizeKQuant, quantizeRowQ4K, type KQuantType } from '../../src/quant/quantize/kquants.ts';
import { rng } from '../../src/gpu/random.ts';
import { fixture } from '../helpers/fixtures.ts';

const DIR = 'models/random-llama-256/';
const SOURCE = fixture(`${DIR}random-llama-256-F32.gguf`);
const MIXES = ['Q2_K', 'Q3_K_M', 'Q4_K_M', 'Q5_K_M', 'Q6_K'];
const K_TYPES = Object.keys(KQUANT_QUANTIZERS).map(Number) as KQuantType[];
const TOLERANCE = 1.01;

function dequant(type: KQuantType, bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  BLOCK_FORMATS[type].dequantize(bytes, out, n / 256);
  return out;
}

function sse(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s;
}

interface TensorResult {
  name: string;
  type: KQuantType;
  n: number;
  exact: boolean;
  sseOurs: number;
  sseTheirs: number;
  firstDiff: string;
  ms: number;
}

interface MixResult {
  rows: TensorResult[];
  otherTypes: number;
  skippedRowLength: number;
}

/** Quantize every K-quant tensor of one llama.cpp file once; both tests of that file share the result. */
const cache = new Map<string, Promise<MixResult | null>>();
function compareMix(mix: string): Promise<MixResult | null> {
  let p = cache.get(mix);
  if (!p) cache.set(mix, (p = runMix(mix)));
  return p;
}

async function runMix(mix: string): Promise<MixResult | null> {
  const qPath = fixture(`${DIR}random-llama-256-${mix}.gguf`);
  if (!qPath || !SOURCE) return null;
  const qf = await readGguf(await fileSource(qPath));
  const sf = await readGguf(await fileSource(SOURCE));
  const res: MixResult = { rows: [], otherTypes: 0, skippedRowLength: 0 };
  try {
    for (const t of qf.tensors) {
      if (!isKQuantType(t.type)) {
        res.otherTypes++;
        continue;
      }
      if (t.ne[0] % 256 !== 0) {
        res.skippedRowLength++; // llama.cpp cannot store these in a K-quant; kept for completeness
        continue;
      }
      const st = findTensor(sf, t.name);
      expect(st, `F32 source of ${t.name}`).toBeDefined();
      expect(st!.ne).toEqual(t.ne);
      const x = await readTensorF32(sf, st!);
      const t0 = performance.now();
      const ours = quantizeKQuant(t.type, x, t.ne[0]);
      const ms = performance.now() - t0;
      const theirs = await readTensorBytes(qf, t);
      expect(ours.length).toBe(theirs.length);
      let at = -1;
      for (let i = 0; i < ours.length && at < 0; i++) if (ours[i] !== theirs[i]) at = i;
      let firstDiff = '';
      if (at >= 0) {
        const bpb = KQUANT_QUANTIZERS[t.type].bytesPerBlock;
        const b = Math.floor(at / bpb);
        const hex = (u: Uint8Array) => Buffer.from(u.subarray(b * bpb, (b + 1) * bpb)).toString('hex');
        firstDiff = `block ${b} (byte ${at % bpb}): ours ${hex(ours)} / llama.cpp ${hex(theirs)}`;
      }
      res.rows.push({
        name: t.name,
        type: t.type,
        n: x.length,
        exact: at < 0,
        sseOurs: sse(dequant(t.type, ours, x.length), x),
        sseTheirs: sse(dequant(t.type, theirs, x.length), x),
        firstDiff,
        ms,
      });
    }
  } finally {
    await qf.source.close?.();
    await sf.source.close?.();
  }
  return res;
}

function byType(rows: TensorResult[]): Map<KQuantType, { tensors: number; exact: number; n: number; sseOurs: number; sseTheirs: number; ms: number }> {
  const m = new Map<KQuantType, { tensors: number; exact: number; n: number; sseOurs: number; sseTheirs: number; ms: number }>();
  for (const r of rows) {
    const a = m.get(r.type) ?? { tensors: 0, exact: 0, n: 0, sseOurs: 0, sseTheirs: 0, ms: 0 };
    a.tensors++;
    if (r.exact) a.exact++;
    a.n += r.n;
    a.sseOurs += r.sseOurs;
    a.sseTheirs += r.sseTheirs;
    a.ms += r.ms;
    m.set(r.type, a);
  }
  return m;
}

describe.skipIf(!SOURCE)('K-quant quantizers against llama.cpp (random-llama-256)', () => {
  for (const mix of MIXES) {
    it(`${mix}: reconstruction RMSE never more than 1 % worse than llama.cpp's`, async () => {
      const res = await compareMix(mix);
      if (!res) return;
      expect(res.rows.length).toBeGreaterThan(0);
      for (const r of res.rows) {
        if (r.exact) continue;
        const ro = Math.sqrt(r.sseOurs / r.n);
        const rt = Math.sqrt(r.sseTheirs / r.n);
        console.log(`${mix} ${r.name} (${ggmlTypeName(r.type)}) not byte-exact: RMSE ours ${ro.toExponential(5)} vs llama.cpp ${rt.toExponential(5)}; first differing ${r.firstDiff}`);
        expect(ro, `${r.name} RMSE`).toBeLessThanOrEqual(rt * TOLERANCE);
      }
      for (const [type, a] of byType(res.rows))
        expect(Math.sqrt(a.sseOurs / a.n), `${ggmlTypeName(type)} RMSE in ${mix}`).toBeLessThanOrEqual(Math.sqrt(a.sseTheirs / a.n) * TOLERANCE);
      console.log(`${mix}: ${res.rows.length} K-quant tensors compared, ${res.otherTypes} tensors in other types, ${res.skippedRowLength} skipped (row length not a multiple of 256)`);
    });

    it(`${mix}: every K-quant tensor byte-identical to llama.cpp's`, async () => {
      const res = await compareMix(mix);
      if (!res) return;
      const differing = res.rows.filter((r) => !r.exact).map((r) => `${r.name}: ${r.firstDiff}`);
      expect(differing).toEqual([]);
    });
  }

  it('summary per type over all files', async () => {
    const all: TensorResult[] = [];
    for (const mix of MIXES) all.push(...((await compareMix(mix))?.rows ?? []));
    if (all.length === 0) return;
    const lines = ['type  tensors exact  RMSE ours    RMSE llama.cpp  Melem/s'];
    for (const [type, a] of [...byType(all)].sort((p, q) => p[0] - q[0])) {
      const ro = Math.sqrt(a.sseOurs / a.n);
      const rt = Math.sqrt(a.sseTheirs / a.n);
      lines.push(
        `${ggmlTypeName(type).padEnd(5)} ${String(a.tensors).padStart(7)} ${String(a.exact).padStart(5)}  ${ro.toExponential(5)}  ${rt.toExponential(5)}  ${(a.n / a.ms / 1000).toFixed(2).padStart(7)}`,
      );
      expect(ro, `${ggmlTypeName(type)} RMSE over all files`).toBeLessThanOrEqual(rt * TOLERANCE);
    }
    console.log(lines.join('\n'));
    // Every K-quant type must have been exercised by the fixtures.
    expect(new Set(all.map((r) => r.type))).toEqual(new Set(K_TYPES));
  });
});

describe('nearest_int', () => {
  it('rounds half to even, like the float magic-number trick', () => {
    const cases: Array<[number, number]> = [
      [0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [-0.5, 0], [-1.5, -2], [-2.5, -2],
      [0.49999997, 0], [2.4999998, 2], [-3.7, -4], [4194303, 4194303], [-4194303, -4194303],
    ];
    for (const [x, want] of cases) expect(nearestInt(Math.fround(x)), `nearest_int(${x})`).toBe(want);
  });

  it('outside its domain replays the same bit arithmetic as release-built C', () => {
    const bitsResult = (x: number) => {
      const dv = new DataView(new ArrayBuffer(4));
      dv.setFloat32(0, Math.fround(x) + 12582912);
      return (dv.getInt32(0) & 0x7fffff) - 0x400000;
    };
    for (const x of [1e7, -1e7, 3e9, Infinity, -Infinity, NaN]) expect(nearestInt(x), String(x)).toBe(bitsResult(x));
    expect(nearestInt(NaN)).toBe(0);
    expect(nearestInt(Infinity)).toBe(-4194304);
  });
});

describe('K-quant quantizers on synthetic data', () => {
  const gaussian = (n: number, seed: number) => {
    const r = rng(seed);
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()) * 0.02 * (r() < 0.01 ? 8 : 1);
    return x;
  };

  it('all-zero input gives all-zero blocks that decode to zero', () => {
    const x = new Float32Array(512);
    for (const type of K_TYPES) {
      const q = quantizeKQuant(type, x);
      expect(q.length).toBe(2 * KQUANT_QUANTIZERS[type].bytesPerBlock);
      expect(q.every((b) => b === 0), ggmlTypeName(type)).toBe(true);
      expect(dequant(type, q, x.length).every((v) => v === 0)).toBe(true);
    }
  });

  it('zero sub-blocks inside a non-zero block reconstruct to exactly zero', () => {
    const x = gaussian(256, 5);
    x.fill(0, 32, 64); // a whole 32-sub-block (two 16-sub-blocks) of zeros
    for (const type of K_TYPES) {
      const y = dequant(type, quantizeKQuant(type, x), 256);
      for (let i = 32; i < 64; i++) expect(y[i], `${ggmlTypeName(type)} element ${i}`).toBe(0);
    }
  });

  it('error falls with every extra bit and stays within 1.5·2^(1−bits) of the RMS', () => {
    const x = gaussian(256 * 64, 3);
    const rms = Math.sqrt(sse(x, new Float32Array(x.length)) / x.length);
    const bits: Record<KQuantType, number> = { [GgmlType.Q2_K]: 2, [GgmlType.Q3_K]: 3, [GgmlType.Q4_K]: 4, [GgmlType.Q5_K]: 5, [GgmlType.Q6_K]: 6 };
    let prev = Infinity;
    for (const type of K_TYPES) {
      const rel = Math.sqrt(sse(dequant(type, quantizeKQuant(type, x), x.length), x) / x.length) / rms;
      expect(rel, ggmlTypeName(type)).toBeLessThan(1.5 * 2 ** (1 - bits[type]));
      expect(rel).toBeLessThan(prev);
      prev = rel;
    }
  });

  it('rejects bad lengths, non-K types and short outputs', () => {
    expect(() => quantizeKQuant(GgmlType.Q4_K, new Float32Array(255))).toThrow(/not a multiple of 256/);
    expect(() => quantizeKQuant(GgmlType.Q4_0, new Float32Array(256))).toThrow(/not a K-quant/);
    expect(() => quantizeKQuant(GgmlType.Q6_K, new Float32Array(512), 128)).toThrow(/row length 128/);
    expect(() => quantizeKQuant(GgmlType.Q6_K, new Float32Array(768), 512)).toThrow(/row length 512/);
    expect(() => quantizeRowQ4K(new Float32Array(512), new Uint8Array(144))).toThrow(/needs 288/);
  });
});
