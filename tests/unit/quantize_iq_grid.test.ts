// The lattice-grid i-quant quantizers (IQ3_XXS, IQ3_S, IQ2_XXS, IQ2_XS, IQ2_S,
// IQ1_S, IQ1_M) against llama.cpp's own files: every blk.* 2-D tensor that
// random-llama-256-<TYPE>.gguf stores in <TYPE> is re-quantized from the F32
// source of the same name with the importance vector of the imatrix file
// (in_sum2 / counts, the same for every row, as ggml_quantize_chunk was given)
// and must be byte-identical. Plus: the types llama.cpp asserts an imatrix for
// refuse null weights; argument checks; zero input; round trips without weights.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fileSource } from '../../src/io/source.node.ts';
import { findTensor, readGguf, readTensorBytes, readTensorF32 } from '../../src/io/gguf/reader.ts';
import type { GgufFile } from '../../src/io/gguf/types.ts';
import { BLOCK_FORMATS, GgmlType, ggmlTypeName } from '../../src/quant/formats.ts';
import { GRID_IQ_QUANTIZERS, GridQuantWeightsError, quantizeGridIQ } from '../../src/quant/quantize/iq_grid_quant.ts';
import { rng } from '../../src/gpu/random.ts';
import { fixture } from '../helpers/fixtures.ts';

const DIR = 'models/random-llama-256/';
const SOURCE = fixture(`${DIR}random-llama-256-F32.gguf`);
const IMATRIX = fixture(`${DIR}random-llama-256.imatrix.gguf`);

/** Byte-identical to llama.cpp on the fixtures (all seven lattice types). */
const TYPES = ['IQ3_XXS', 'IQ3_S', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ1_S', 'IQ1_M'] as const;

interface TypeResult {
  total: number;
  identical: number;
  weights: number;
  differing: string[];
  secPerMweight: number;
}

async function withFiles<T>(paths: string[], f: (files: GgufFile[]) => Promise<T>): Promise<T> {
  const files: GgufFile[] = [];
  try {
    for (const p of paths) files.push(await readGguf(await fileSource(p)));
    return await f(files);
  } finally {
    for (const g of files) await g.source.close?.();
  }
}

/** The per-column importance of a tensor: in_sum2 / counts, or null when the imatrix has none. */
async function importance(im: GgufFile, name: string): Promise<Float32Array | null> {
  const s2 = findTensor(im, `${name}.in_sum2`);
  const c = findTensor(im, `${name}.counts`);
  if (!s2 || !c) return null;
  const w = await readTensorF32(im, s2);
  const count = (await readTensorF32(im, c))[0];
  for (let i = 0; i < w.length; i++) w[i] = w[i] / count; // C: float / float
  return w;
}

async function compareType(typeName: string): Promise<TypeResult | null> {
  const qPath = fixture(`${DIR}random-llama-256-${typeName}.gguf`);
  if (!qPath || !SOURCE || !IMATRIX) return null;
  const type = GgmlType[typeName as keyof typeof GgmlType];
  const bpb = GRID_IQ_QUANTIZERS[type]!.bytesPerBlock;
  return withFiles([qPath, SOURCE, IMATRIX], async ([qf, sf, im]) => {
    const res: TypeResult = { total: 0, identical: 0, weights: 0, differing: [], secPerMweight: 0 };
    let ms = 0;
    for (const t of qf.tensors) {
      if (t.type !== type || !t.name.startsWith('blk.') || t.ne.length !== 2) continue;
      const st = findTensor(sf, t.name);
      expect(st, `F32 source of ${t.name}`).toBeDefined();
      expect(st!.ne).toEqual(t.ne);
      const x = await readTensorF32(sf, st!);
      const w = await importance(im, t.name);
      expect(w, `imatrix entry for ${t.name}`).not.toBeNull();
      const t0 = performance.now();
      const ours = quantizeGridIQ(type, x, t.ne[1], t.ne[0], w);
      ms += performance.now() - t0;
      const theirs = await readTensorBytes(qf, t);
      expect(ours.length).toBe(theirs.length);
      res.total++;
      res.weights += x.length;
      let at = -1;
      for (let i = 0; i < ours.length && at < 0; i++) if (ours[i] !== theirs[i]) at = i;
      if (at < 0) {
        res.identical++;
        continue;
      }
      const b = Math.floor(at / bpb);
      const hex = (u: Uint8Array) => Buffer.from(u.subarray(b * bpb, (b + 1) * bpb)).toString('hex');
      res.differing.push(`${t.name}: block ${b} (byte ${at % bpb}): ours ${hex(ours)} / llama.cpp ${hex(theirs)}`);
    }
    res.secPerMweight = ms / 1000 / (res.weights / 1e6);
    return res;
  });
}

describe.skipIf(!SOURCE || !IMATRIX)('lattice-grid i-quant quantizers against llama.cpp (random-llama-256, with imatrix)', () => {
  for (const typeName of TYPES) {
    it(`${typeName}: every tensor byte-identical to llama.cpp's`, async () => {
      const res = await compareType(typeName);
      if (!res) return;
      console.log(
        `${typeName}: ${res.identical}/${res.total} tensors identical, ${(res.weights / 1e6).toFixed(2)} Mweights, ${res.secPerMweight.toFixed(2)} s/Mweight` +
          (res.differing.length ? `; first differing: ${res.differing[0]}` : ''),
      );
      expect(res.total).toBeGreaterThan(0);
      expect(res.differing).toEqual([]);
    });
  }
});

// Synthetic inputs for the paths the fixtures do not reach: no importance
// matrix (IQ3_XXS, IQ3_S, IQ2_S, IQ1_M), zero columns in it, equal values in a
// sub-block (IQ1_S/IQ1_M sort them: the order of ties, ±0 included, decides the
// codes), all-zero and near-zero sub-blocks and super-blocks (IQ3_S then stops
// advancing its qs/signs cursors). Pure integer/f32 arithmetic, no Math.log/cos,
// so the inputs are the same everywhere.
const ROWS = 2;
const COLS = 512;
function synthInput(kind: 'heavy' | 'ties' | 'zeros'): Float32Array {
  const r = rng(kind === 'heavy' ? 1 : kind === 'ties' ? 2 : 3);
  const x = new Float32Array(ROWS * COLS);
  const TIES = [-0.03, -0.02, -0.01, -0, 0, 0.01, 0.02, 0.03, 0.03];
  for (let i = 0; i < x.length; i++) {
    const u = r() * 2 - 1;
    x[i] = kind === 'ties' ? TIES[Math.floor(r() * TIES.length)] : u * u * u * 0.05 + (r() * 2 - 1) * 0.01;
  }
  if (kind === 'zeros') {
    x.fill(0, 32, 64); // a 32-sub-block
    x.fill(0, 80, 96); // a 16-sub-block
    x.fill(0, 512 + 256, 1024); // a whole super-block
    for (let i = 256 + 64; i < 256 + 96; i++) x[i] *= 1e-7; // ~1e-9: below GROUP_MAX_EPS_IQ3_XXS / _IQ2_S
    for (let i = 256 + 128; i < 256 + 160; i++) x[i] *= 1e-11; // ~1e-13: below GROUP_MAX_EPS_IQ1_S
    for (let i = 512; i < 512 + 16; i++) x[i] *= 1e-6; // ~1e-8: around GROUP_MAX_EPS_IQ1_M
  }
  return x;
}
function synthWeights(): Float32Array {
  const r = rng(4);
  const w = new Float32Array(COLS);
  for (let i = 0; i < COLS; i++) w[i] = i % 3 === 0 ? 0 : r() * 4 + 0.1;
  return w;
}

// sha256 (first 16 hex digits) of llama.cpp's encodings of these inputs: the
// quantize_iq* functions of ggml/src/ggml-quants.c at llama.cpp commit
// de3ff815ea7d559ee917f063901b8986f038abc6 (the source the fixture files are
// judged by), compiled with gcc -O2 -ffp-contract=off and linked against glibc
// 2.36 (its qsort), after iq2xs_init_impl / iq3xs_init_impl. IQ2_XXS, IQ2_XS and
// IQ1_S have no 'none' case: llama.cpp asserts there.
const LLAMA_CPP_SYNTH: Record<(typeof TYPES)[number], Record<string, string>> = {
  IQ3_XXS: { 'heavy/imatrix': '7ffda085272bb990', 'heavy/none': 'fe72eb7ead8adafc', 'ties/imatrix': '29222ed3c506d36e', 'ties/none': 'cb0f3fe285af2b3b', 'zeros/imatrix': '43cbe56b2af85171', 'zeros/none': 'e9079ed81e3491a4' },
  IQ3_S: { 'heavy/imatrix': 'bdaff9bc7138339f', 'heavy/none': '222b0469ae73b2a2', 'ties/imatrix': '4b2262f2e999ee67', 'ties/none': '397664e8b3cca5ae', 'zeros/imatrix': '7795f4252ca22821', 'zeros/none': '870bcb0462a520dc' },
  IQ2_XXS: { 'heavy/imatrix': 'b07f1dc8120a74a7', 'ties/imatrix': 'b5a02796981c55e0', 'zeros/imatrix': '43b8717585d50401' },
  IQ2_XS: { 'heavy/imatrix': '894edc8633560028', 'ties/imatrix': 'de07ca42b0e26932', 'zeros/imatrix': '6bbb7181fdcb7a70' },
  IQ2_S: { 'heavy/imatrix': 'aec0d8ebf6b67128', 'heavy/none': 'e8ec3a8e16bd6fab', 'ties/imatrix': '9d71815b58ee6fa3', 'ties/none': 'b81aebfbe65e77ee', 'zeros/imatrix': '7920d80e6278a82b', 'zeros/none': '5a5e9b4ef8300f4f' },
  IQ1_S: { 'heavy/imatrix': 'f0dc247af1a21906', 'ties/imatrix': '8ae68f2201ed76c7', 'zeros/imatrix': 'c09339453729f6df' },
  IQ1_M: { 'heavy/imatrix': '1e4a8029621a76b8', 'heavy/none': '691210ebd3c93cf8', 'ties/imatrix': '36f2ed91b336b8c4', 'ties/none': 'edaafa3d9e2b3f6a', 'zeros/imatrix': '278e7026c425c427', 'zeros/none': 'fc29b135497674a5' },
};

describe('lattice-grid i-quant quantizers against llama.cpp on synthetic inputs', () => {
  const weights = synthWeights();
  for (const typeName of TYPES) {
    it(`${typeName}: ${Object.keys(LLAMA_CPP_SYNTH[typeName]).join(', ')} encode as llama.cpp does`, () => {
      const type = GgmlType[typeName];
      for (const [name, want] of Object.entries(LLAMA_CPP_SYNTH[typeName])) {
        const [xk, wk] = name.split('/') as ['heavy' | 'ties' | 'zeros', string];
        const q = quantizeGridIQ(type, synthInput(xk), ROWS, COLS, wk === 'none' ? null : weights);
        expect(q.length).toBe((ROWS * COLS / 256) * GRID_IQ_QUANTIZERS[type]!.bytesPerBlock);
        expect(createHash('sha256').update(q).digest('hex').slice(0, 16), `${typeName} ${name}`).toBe(want);
      }
    });
  }
});

describe('lattice-grid i-quant quantizers on synthetic data', () => {
  const gaussian = (n: number, seed: number) => {
    const r = rng(seed);
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()) * 0.02;
    return x;
  };
  const all = Object.keys(GRID_IQ_QUANTIZERS).map(Number) as GgmlType[];

  it('IQ2_XXS, IQ2_XS and IQ1_S refuse null weights with a typed error naming the type', () => {
    for (const type of [GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ1_S]) {
      const call = () => quantizeGridIQ(type, new Float32Array(256), 1, 256, null);
      expect(call).toThrow(GridQuantWeightsError);
      expect(call).toThrow(new RegExp(`^${ggmlTypeName(type)}: missing quantization weights`));
      try {
        call();
      } catch (e) {
        expect((e as GridQuantWeightsError).type).toBe(type);
      }
    }
  });

  it('IQ3_XXS, IQ3_S, IQ2_S and IQ1_M quantize without weights, and decode close to the input', () => {
    const x = gaussian(256 * 8, 11);
    const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
    for (const type of [GgmlType.IQ3_XXS, GgmlType.IQ3_S, GgmlType.IQ2_S, GgmlType.IQ1_M]) {
      const q = quantizeGridIQ(type, x, 2, 1024, null);
      expect(q.length).toBe(8 * GRID_IQ_QUANTIZERS[type]!.bytesPerBlock);
      const y = new Float32Array(x.length);
      BLOCK_FORMATS[type as keyof typeof BLOCK_FORMATS].dequantize(q, y, 8);
      let se = 0;
      for (let i = 0; i < x.length; i++) se += (x[i] - y[i]) ** 2;
      expect(Math.sqrt(se / x.length) / rms, ggmlTypeName(type)).toBeLessThan(0.8);
    }
  });

  it('the same importance vector is applied to every row', () => {
    const x = gaussian(512, 4);
    const w = new Float32Array(256).map((_, i) => 1 + (i % 7));
    const rowwise = new Uint8Array([...quantizeGridIQ(GgmlType.IQ2_XS, x.subarray(0, 256), 1, 256, w), ...quantizeGridIQ(GgmlType.IQ2_XS, x.subarray(256), 1, 256, w)]);
    expect(quantizeGridIQ(GgmlType.IQ2_XS, x, 2, 256, w)).toEqual(rowwise);
  });

  it('all-zero input gives all-zero blocks', () => {
    const x = new Float32Array(512);
    const w = new Float32Array(256).fill(1);
    for (const type of all) {
      const q = quantizeGridIQ(type, x, 2, 256, w);
      expect(q.length).toBe(2 * GRID_IQ_QUANTIZERS[type]!.bytesPerBlock);
      expect(q.every((b) => b === 0), ggmlTypeName(type)).toBe(true);
    }
  });

  it('rejects other types, bad row lengths and short inputs', () => {
    expect(() => quantizeGridIQ(GgmlType.Q4_K, new Float32Array(256), 1, 256, null)).toThrow(/not a lattice-grid i-quant/);
    expect(() => quantizeGridIQ(GgmlType.IQ3_S, new Float32Array(256), 2, 128, null)).toThrow(/row length 128/);
    expect(() => quantizeGridIQ(GgmlType.IQ3_S, new Float32Array(256), 2, 256, null)).toThrow(/needs 512/);
    expect(() => quantizeGridIQ(GgmlType.IQ2_S, new Float32Array(256), 1, 256, new Float32Array(128))).toThrow(/128 weights/);
  });
});
