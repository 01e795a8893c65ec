// llama.cpp's importance-weighted quantizers (and the table/ternary/FP4 types)
// against llama.cpp's own encodings: every blk.* 2-D tensor of the random
// Llama's F32 file is quantized through ggmlQuantize with the imatrix weights
// (in_sum2 / counts, one per column) and compared byte-for-byte with the same
// tensor in the file llama.cpp wrote with ggml_quantize_chunk and that imatrix
// (shared/SOURCES.md). Also times each type (seconds per million weights).
import { quantizeGridIQ } from '../../src/quant/quantize/iq_grid_quant.ts';
import { describe, expect, it } from 'vitest';
import { fileSource } from '../../src/io/source.node.ts';
import { findTensor, readGguf, readTensorBytes, readTensorF32 } from '../../src/io/gguf/reader.ts';
import { BLOCK_FORMATS, GgmlType, ggmlTypeInfo, isSupportedType } from '../../src/quant/formats.ts';
import {
  GRID_IQUANTS,
  ImatrixRequiredError,
  QuantizeUnsupportedError,
  ggmlQuantize,
} from '../../src/quant/quantize/ggml_quantize.ts';
import { f32ToUe4m3, quantizeMXFP4, ue4m3ToF32Half } from '../../src/quant/quantize/iq_table_quant.ts';
import { quantizeKQuant } from '../../src/quant/quantize/kquants.ts';
import { fixture } from '../helpers/fixtures.ts';

const DIR = 'models/random-llama-256/';
type GgufFile = Awaited<ReturnType<typeof readGguf>>;

const SOURCE = fixture(`${DIR}random-llama-256-F32.gguf`);
const IMATRIX = fixture(`${DIR}random-llama-256.imatrix.gguf`);

/** [type, file]: the K-quant and legacy types come from the imat-* files, the others from the pure-type files. */
const CASES: Array<[GgmlType, string]> = [
  [GgmlType.Q2_K, 'imat-Q2_K'],
  [GgmlType.Q3_K, 'imat-Q3_K'],
  [GgmlType.Q4_K, 'imat-Q4_K'],
  [GgmlType.Q5_K, 'imat-Q5_K'],
  [GgmlType.Q6_K, 'imat-Q6_K'],
  [GgmlType.Q4_0, 'imat-Q4_0'],
  [GgmlType.Q4_1, 'imat-Q4_1'],
  [GgmlType.Q5_0, 'imat-Q5_0'],
  [GgmlType.Q5_1, 'imat-Q5_1'],
  [GgmlType.IQ4_NL, 'IQ4_NL'],
  [GgmlType.IQ4_XS, 'IQ4_XS'],
  [GgmlType.TQ1_0, 'TQ1_0'],
  [GgmlType.TQ2_0, 'TQ2_0'],
  [GgmlType.MXFP4, 'MXFP4'],
  [GgmlType.NVFP4, 'NVFP4'],
];

interface Source {
  f32: GgufFile;
  imat: GgufFile;
}
let sourcePromise: Promise<Source> | null = null;
function openSources(): Promise<Source> {
  sourcePromise ??= (async () => ({
    f32: await readGguf(await fileSource(SOURCE!)),
    imat: await readGguf(await fileSource(IMATRIX!)),
  }))();
  return sourcePromise;
}

/** llama-quantize's per-column weights: in_sum2[j] / counts (float division, as C). */
async function imatrixWeights(imat: GgufFile, name: string): Promise<Float32Array> {
  const s = findTensor(imat, `${name}.in_sum2`);
  const c = findTensor(imat, `${name}.counts`);
  expect(s, `${name}.in_sum2 in the imatrix`).toBeDefined();
  expect(c, `${name}.counts in the imatrix`).toBeDefined();
  const sum2 = await readTensorF32(imat, s!);
  const count = (await readTensorF32(imat, c!))[0];
  const w = new Float32Array(sum2.length);
  for (let j = 0; j < w.length; j++) w[j] = sum2[j] / count;
  return w;
}

interface TypeResult {
  tensors: number;
  exact: number;
  weights: number;
  seconds: number;
  diffs: string[];
}

async function compareType(type: GgmlType, file: string): Promise<TypeResult | null> {
  const qPath = fixture(`${DIR}random-llama-256-${file}.gguf`);
  if (!qPath || !SOURCE || !IMATRIX) return null;
  const { f32, imat } = await openSources();
  const qf = await readGguf(await fileSource(qPath));
  const res: TypeResult = { tensors: 0, exact: 0, weights: 0, seconds: 0, diffs: [] };
  try {
    for (const t of qf.tensors) {
      if (!t.name.startsWith('blk.') || t.ne.length !== 2) continue;
      expect(t.type, `${t.name} in ${file}`).toBe(type);
      const st = findTensor(f32, t.name);
      expect(st, `F32 source of ${t.name}`).toBeDefined();
      const x = await readTensorF32(f32, st!);
      const w = await imatrixWeights(imat, t.name);
      const [cols, rows] = [Number(t.ne[0]), Number(t.ne[1])];
      const t0 = performance.now();
      const ours = ggmlQuantize(type, x, rows, cols, w);
      res.seconds += (performance.now() - t0) / 1000;
      const theirs = await readTensorBytes(qf, t);
      expect(ours.length, `${t.name} byte length`).toBe(theirs.length);
      res.tensors++;
      res.weights += x.length;
      let at = -1;
      for (let i = 0; i < ours.length && at < 0; i++) if (ours[i] !== theirs[i]) at = i;
      if (at < 0) {
        res.exact++;
        continue;
      }
      const bpb = ggmlTypeInfo(type)!.bytesPerBlock;
      const b = Math.floor(at / bpb);
      const hex = (u: Uint8Array) => Buffer.from(u.subarray(b * bpb, (b + 1) * bpb)).toString('hex');
      res.diffs.push(`${t.name}: block ${b} (byte ${at % bpb}): ours ${hex(ours)} / llama.cpp ${hex(theirs)}`);
    }
  } finally {
    await qf.source.close?.();
  }
  return res;
}

const results = new Map<GgmlType, TypeResult>();

describe.skipIf(!SOURCE || !IMATRIX)('importance-weighted quantizers byte-identical to llama.cpp (random-llama-256)', () => {
  for (const [type, file] of CASES) {
    it(`${GgmlType[type]}: every blk.* tensor of random-llama-256-${file}.gguf`, async () => {
      const res = await compareType(type, file);
      if (!res) return;
      results.set(type, res);
      const perM = res.seconds / (res.weights / 1e6);
      console.log(`${GgmlType[type].padEnd(6)} ${res.exact}/${res.tensors} identical, ${perM.toFixed(3)} s/Mweight`);
      for (const d of res.diffs) console.log(`  ${d}`);
      expect(res.tensors).toBeGreaterThan(0);
      expect(res.diffs).toEqual([]);
    }, 120_000);
  }

  it('the importance matrix changes the encodings (the matches above are not the unweighted path by accident)', async () => {
    const { f32, imat } = await openSources();
    const name = 'blk.0.ffn_up.weight';
    const st = findTensor(f32, name)!;
    const x = await readTensorF32(f32, st);
    const w = await imatrixWeights(imat, name);
    const [cols, rows] = [Number(st.ne[0]), Number(st.ne[1])];
    for (const [type] of CASES) {
      const weighted = ggmlQuantize(type, x, rows, cols, w);
      const plain = ggmlQuantize(type, x, rows, cols, null);
      const ignoresWeights = [GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.MXFP4, GgmlType.NVFP4].includes(type);
      expect(Buffer.from(weighted).equals(Buffer.from(plain)), `${GgmlType[type]} weighted == unweighted`).toBe(ignoresWeights);
    }
  });

  it('IQ4_NL on real weights with 64-wide rows: stories260K-iq4_nl.gguf', async () => {
    const src = fixture('models/stories260K.gguf');
    const im = fixture('models/stories260K-quantized/stories260K.imatrix.gguf');
    const qp = fixture('models/stories260K-quantized/stories260K-iq4_nl.gguf');
    if (!src || !im || !qp) return;
    const [f32, imat, qf] = await Promise.all([src, im, qp].map(async (p) => readGguf(await fileSource(p))));
    try {
      let n = 0;
      const diffs: string[] = [];
      for (const t of qf.tensors) {
        if (t.type !== GgmlType.IQ4_NL) continue;
        const x = await readTensorF32(f32, findTensor(f32, t.name)!);
        const w = await imatrixWeights(imat, t.name);
        const ours = ggmlQuantize(GgmlType.IQ4_NL, x, Number(t.ne[1]), Number(t.ne[0]), w);
        const theirs = await readTensorBytes(qf, t);
        n++;
        if (!Buffer.from(ours).equals(Buffer.from(theirs))) diffs.push(t.name);
      }
      console.log(`stories260K IQ4_NL: ${n - diffs.length}/${n} identical`);
      expect(n).toBeGreaterThan(0);
      expect(diffs).toEqual([]);
    } finally {
      for (const f of [f32, imat, qf]) await f.source.close?.();
    }
  });

  it('summary', () => {
    if (results.size === 0) return;
    const lines = ['type    identical  s/Mweight'];
    for (const [type, r] of results) lines.push(`${GgmlType[type].padEnd(7)} ${`${r.exact}/${r.tensors}`.padStart(9)}  ${(r.seconds / (r.weights / 1e6)).toFixed(3)}`);
    console.log(lines.join('\n'));
  });
});

describe('ggmlQuantize dispatch', () => {
  const x = new Float32Array(512).map((_, i) => Math.sin(i * 0.37) * 0.05);

  it('refuses IQ2_XXS, IQ2_XS and IQ1_S without an importance matrix, naming the type', () => {
    for (const t of [GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ1_S]) {
      expect(() => ggmlQuantize(t, x, 2, 256, null)).toThrow(ImatrixRequiredError);
      expect(() => ggmlQuantize(t, x, 2, 256, null)).toThrow(GgmlType[t]);
    }
  });

  it('the grid i-quants dispatch to their ports (iq_grid_quant.ts); a type with no quantizer is a typed error naming it', () => {
    const w = new Float32Array(256).fill(1);
    for (const t of GRID_IQUANTS) expect(ggmlQuantize(t, x, 2, 256, w)).toEqual(quantizeGridIQ(t, x, 2, 256, w));
    expect(() => ggmlQuantize(GgmlType.Q8_K, x, 2, 256, w)).toThrow(QuantizeUnsupportedError);
    expect(() => ggmlQuantize(GgmlType.Q8_K, x, 2, 256, w)).toThrow('Q8_K');
  });

  it('without weights the K-quants take the _ref path; Q8_0 ignores weights', () => {
    expect(ggmlQuantize(GgmlType.Q4_K, x, 2, 256, null)).toEqual(quantizeKQuant(GgmlType.Q4_K, x, 256));
    const w = new Float32Array(256).map((_, i) => 1 + (i % 7));
    expect(ggmlQuantize(GgmlType.Q8_0, x, 2, 256, w)).toEqual(ggmlQuantize(GgmlType.Q8_0, x, 2, 256, null));
  });

  it('checks shapes', () => {
    expect(() => ggmlQuantize(GgmlType.Q4_K, x, 3, 256, null)).toThrow(RangeError);
    expect(() => ggmlQuantize(GgmlType.Q4_K, x, 4, 128, null)).toThrow(RangeError);
    expect(() => ggmlQuantize(GgmlType.Q4_0, x, 2, 256, new Float32Array(10))).toThrow(RangeError);
  });
});

describe('quantizers on hand-made inputs', () => {
  it('all-zero rows, with and without weights (zero weights too): right size, and zeros where sub4 can decode', () => {
    const x = new Float32Array(512);
    for (const [type] of CASES) {
      const info = ggmlTypeInfo(type)!;
      for (const w of [null, new Float32Array(256).fill(1), new Float32Array(256)]) {
        const q = ggmlQuantize(type, x, 2, 256, w);
        expect(q.length, GgmlType[type]).toBe((512 / info.blockSize) * info.bytesPerBlock);
        if (isSupportedType(type)) {
          const y = new Float32Array(512).fill(1);
          BLOCK_FORMATS[type].dequantize(q, y, 512 / info.blockSize);
          expect(y.every((v) => v === 0), `${GgmlType[type]} decodes to zero`).toBe(true);
        }
      }
    }
  });

  it('UE4M3 scales (ggml_fp32_to_ue4m3 / ggml_ue4m3_to_fp32)', () => {
    expect(f32ToUe4m3(0)).toBe(0);
    expect(f32ToUe4m3(-1)).toBe(0);
    expect(f32ToUe4m3(NaN)).toBe(0);
    expect(f32ToUe4m3(1)).toBe(0x38); // exponent 7, mantissa 0
    expect(f32ToUe4m3(1.0625)).toBe(0x39); // mantissa rounded up by its 4th bit
    expect(f32ToUe4m3(1.96875)).toBe(0x40); // mantissa carry bumps the exponent
    expect(f32ToUe4m3(1000)).toBe(0x7e); // saturates
    expect(f32ToUe4m3(2 ** -7)).toBe(4); // subnormal: round(x·512)
    expect(f32ToUe4m3(2 ** -12)).toBe(0);
    expect(ue4m3ToF32Half(0x38)).toBe(0.5);
    expect(ue4m3ToF32Half(0x7f)).toBe(0);
    expect(ue4m3ToF32Half(4)).toBe(4 * 2 ** -10);
  });

  it('MXFP4: E8M0 exponent floor(log2 amax) − 2 + 127 and nearest doubled-E2M1 codes', () => {
    const x = new Float32Array(32);
    x[0] = 4; // amax 4: e = 127, d = 0.5, 4 = kvalues[6]·d
    x[1] = -1.5; // −3·0.5: kvalues[11]
    x[16] = 0.3; // nearest 0.5 (index 1) vs 0 (index 0): |0.2| < |0.3|
    const q = quantizeMXFP4(x);
    expect(q[0]).toBe(127);
    expect(q[1] & 0xf).toBe(6);
    expect(q[1] >> 4).toBe(1);
    expect(q[2] & 0xf).toBe(11);
  });

  it('F32, F16 and BF16 are plain conversions', () => {
    const x = Float32Array.of(1, -2, 0.5, 65504);
    expect(new Float32Array(ggmlQuantize(GgmlType.F32, x, 1, 4, null).buffer)).toEqual(x);
    expect(Array.from(ggmlQuantize(GgmlType.F16, x, 1, 4, null))).toEqual([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b]);
    expect(Array.from(ggmlQuantize(GgmlType.BF16, x, 2, 2, null).subarray(0, 4))).toEqual([0x80, 0x3f, 0x00, 0xc0]);
  });
});
