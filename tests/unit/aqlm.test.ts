// AQLM checkpoints out and in (src/export/aqlm.ts, src/io/aqlm/import.ts):
// stories260K's 35 linear layers replaced by learned-table VqTensors (d = 4,
// k = 8: a seeded sample of the row-normalized vectors refined by a few Lloyd
// steps, one scale per row), exported as an AQLM folder and re-opened: codes
// equal, codebooks and scales equal their f16 rounding, the dequantized weights
// equal the VqTensor's within that rounding, config.json carries AQLM's
// quantization_config, codes ≥ 2^(k−1) are stored negative (aqlm's
// pack_int_data); the export refusals (mixed shapes, signs, per-group scales,
// fixed grids, offsets) and the importer's typed errors on hostile folders.
// Not checked here: loading the folder with the Python `aqlm` package (not
// installable in this environment) — the layout is written from formats-2.md §3.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeLearned } from '../../src/quant/vq/kmeans.ts';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { memoryTarget } from '../helpers/export_target.ts';
import { planAqlmExport, writeAqlmFolder } from '../../src/export/aqlm.ts';
import { ExportError } from '../../src/export/target.ts';
import { AqlmError } from '../../src/io/aqlm/import.ts';
import { openModel } from '../../src/io/model.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import type { FolderSource } from '../../src/io/hf_folder.ts';
import { bytesSource } from '../../src/io/source.ts';
import { openSafetensors } from '../../src/io/safetensors/reader.ts';
import { writeSafetensors, type SafetensorsWriteTensor } from '../../src/io/safetensors/writer.ts';
import { paramSpec } from '../../src/arch/params.ts';
import { rng } from '../../src/gpu/random.ts';
import { isQuantized } from '../../src/model/linear.ts';
import { storageOf } from '../../src/model/planner.ts';
import { f16ToF32, f32ToF16 } from '../../src/quant/f16.ts';
import { ConfigError, UnsupportedError } from '../../src/base/errors.ts';
import { dequantizeVq, emptyVqTensor, getIndex, setIndex, type VqDim, type VqTensor } from '../../src/quant/vq/vqtensor.ts';

const AUX = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'];
const f16 = (x: number) => f16ToF32(f32ToF16(x));

/** A learned-table VqTensor of W [O, I] by the engine's encoder (src/quant/vq/kmeans.ts): per-row absmax scales, k-means. */
async function learnVq(w: Float32Array, O: number, I: number, d: VqDim, k: number, seed: number): Promise<VqTensor> {
  return (await encodeLearned(w, O, I, { dim: d as 2 | 4 | 8, bits: k, iters: 2, seed })).q;
}

/** A random learned-table VqTensor (for the refusals). */
function randomVq(O: number, I: number, d: VqDim, size: number, seed: number, opts: { signed?: boolean; groupSize?: number; name?: string } = {}): VqTensor {
  const r = rng(seed);
  const values = Float32Array.from({ length: size * d }, () => r() * 2 - 1);
  const q = emptyVqTensor(O, I, { name: opts.name ?? 'learned', dim: d, size, values }, opts.groupSize ?? I, opts.signed ?? false);
  for (let row = 0; row < O; row++) for (let v = 0; v < Math.ceil(I / d); v++) setIndex(q, row, v, Math.floor(r() * size));
  q.scale.fill(0.05);
  return q;
}

function memFolder(files: Map<string, Uint8Array>, name = 'aqlm'): FolderSource {
  return {
    name,
    list: () => [...files.keys()],
    async open(file) {
      const b = files.get(file);
      if (!b) throw new Error(`no ${file}`);
      const src = bytesSource(b, file);
      return { ...src, read: async (o: number, n: number) => new Uint8Array(await src.read(o, n)) }; // fresh buffers, as a file read gives
    },
  };
}

describe('AQLM export → import of stories260K', () => {
  it('codes, f16 codebooks and scales, weights, config and signed storage survive', { timeout: 120_000 }, async () => {
    const path = fixture('models/stories260K');
    if (!path) return;
    const base = await openModelPath(path);
    try {
      const linears = new Map<string, VqTensor>();
      let seed = 1;
      for (const p of paramSpec(base.config).filter((e) => e.kind === 'linear' && e.role !== 'lm_head')) {
        const [O, I] = p.shape;
        linears.set(p.name, await learnVq(await base.tensors.get(p.name)!.readF32(), O, I, 4, 8, seed++));
      }
      expect(linears.size).toBe(7 * base.config.numLayers);
      const target = memoryTarget();
      const plain = [...base.tensors.values()].filter((t) => !linears.has(t.name));
      const res = await writeAqlmFolder(target, {
        config: base.hf!.configJson,
        linears,
        tensors: plain.map((t) => ({ name: t.name, shape: t.shape, read: () => t.readF32() })),
        files: AUX.filter((f) => base.hf!.folder.list().includes(f)).map((f) => ({ name: f, read: () => readFile(join(path, f)) })),
        readme: '# stories260K AQLM (test)\n',
      });
      console.log(`AQLM 1x${res.nbits} g${res.inGroupSize}: ${res.bytes} bytes; ${res.notes.join('; ')}`);
      expect(res.files).toEqual(['model.safetensors', ...AUX.filter((f) => base.hf!.folder.list().includes(f)), 'README.md', 'config.json']);
      expect([res.nbits, res.inGroupSize]).toEqual([8, 4]);
      expect(res.notes.some((n) => n.includes('f16') && n.includes(res.f16Error.layer))).toBe(true);
      expect(res.f16Error.relative).toBeGreaterThan(0);
      expect(res.f16Error.relative).toBeLessThan(2 ** -10);

      const cfg = JSON.parse(target.text('config.json'));
      expect(cfg.torch_dtype).toBe('float16');
      const { linear_weights_not_to_quantize: keep, ...qc } = cfg.quantization_config;
      expect(qc).toEqual({ quant_method: 'aqlm', in_group_size: 4, out_group_size: 1, num_codebooks: 1, nbits_per_codebook: 8 });
      expect(keep).toContain('lm_head.weight'); // tied, but transformers would still replace the module
      expect(keep).toContain('model.embed_tokens.weight');
      expect(keep).toContain('model.norm.weight');
      expect(keep).toContain('model.layers.0.input_layernorm.weight');
      expect(keep).toContain('model.layers.4.post_attention_layernorm.weight');
      for (const n of linears.keys()) expect(keep).not.toContain(n);

      // Raw storage: int8 codes, signed (aqlm's pack_int_data), and the tensor shapes.
      const st = await openSafetensors(bytesSource(target.files.get('model.safetensors')!, 'model.safetensors'));
      let negatives = 0;
      for (const [name, q] of linears) {
        const m = name.slice(0, -'.weight'.length);
        const codes = st.tensors.get(`${m}.codes`)!;
        expect([codes.dtype, codes.shape]).toEqual(['I8', [q.rows, q.cols / 4, 1]]);
        expect([st.tensors.get(`${m}.codebooks`)!.dtype, st.tensors.get(`${m}.codebooks`)!.shape]).toEqual(['F16', [1, 256, 1, 4]]);
        expect([st.tensors.get(`${m}.scales`)!.dtype, st.tensors.get(`${m}.scales`)!.shape]).toEqual(['F16', [q.rows, 1, 1, 1]]);
        const b = await st.readTensorBytes(`${m}.codes`);
        const s = new Int8Array(b.buffer, b.byteOffset, b.length);
        for (let r = 0; r < q.rows; r++)
          for (let v = 0; v < q.cols / 4; v++) {
            const idx = getIndex(q, r, v);
            const want = idx >= 128 ? idx - 256 : idx;
            if (s[r * (q.cols / 4) + v] !== want) expect.fail(`${m}.codes[${r}, ${v}] = ${s[r * (q.cols / 4) + v]}, want ${want}`);
            if (want < 0) negatives++;
          }
      }
      expect(negatives).toBeGreaterThan(0);
      for (const t of plain) expect(st.tensors.get(t.name)!.dtype).toBe('F16');

      // Re-import.
      const re = await openModel({ kind: 'folder', folder: memFolder(target.files) });
      try {
        expect(re.tokenizer, re.tokenizerProblem ?? '').not.toBeNull();
        for (const n of re.tensors.keys()) expect(n).not.toMatch(/\.(codes|codebooks|scales)$/);
        let maxRel = 0;
        for (const [name, q] of linears) {
          const t = re.tensors.get(name)!;
          expect([t.type, t.shape, t.vq, t.ggmlType]).toEqual(['AQLM 1x8 g4', [q.rows, q.cols], { dim: 4, bits: 8 }, null]);
          expect(isQuantized(t)).toBe(true);
          const s = storageOf(re)(name);
          expect(s.kind === 'quant' && s.vq?.dim === 4 && s.vq.indexBits === 8 && s.groupSize === q.cols && s.bits === 2).toBe(true);
          const got = await t.readVq!();
          expect([got.rows, got.cols, got.indexBits, got.signed, got.groupSize, got.codebook.name, got.codebook.dim, got.codebook.size]).toEqual([
            q.rows, q.cols, 8, false, q.cols, 'learned', 4, 256,
          ]);
          expect(Buffer.from(got.codes.buffer).equals(Buffer.from(q.codes.buffer)), `${name} codes`).toBe(true);
          expect(got.codebook.values).toEqual(q.codebook.values.map(f16));
          expect(got.scale).toEqual(q.scale.map(f16));
          expect(got.offset.every((v) => v === 0)).toBe(true);
          // Dequantized: exactly the f16-rounded tensor's, and within the rounding of the original.
          const w = await t.readF32();
          const rounded = { ...q, codebook: { ...q.codebook, values: q.codebook.values.map(f16) }, scale: q.scale.map(f16) };
          expect(w).toEqual(dequantizeVq(rounded));
          const orig = dequantizeVq(q);
          let maxW = 0;
          let maxD = 0;
          for (let i = 0; i < w.length; i++) ((maxW = Math.max(maxW, Math.abs(orig[i]))), (maxD = Math.max(maxD, Math.abs(w[i] - orig[i]))));
          maxRel = Math.max(maxRel, maxD / maxW);
        }
        // The plan's figure is the same measurement.
        expect(maxRel).toBeCloseTo(res.f16Error.relative, 12);
      } finally {
        await re.close();
      }
    } finally {
      await base.close();
    }
  });
});

describe('AQLM export refusals', () => {
  const A = 'model.layers.0.self_attn.q_proj.weight';
  const B = 'model.layers.0.mlp.down_proj.weight';
  const refuse = (linears: Map<string, VqTensor>, ...words: string[]) => {
    let err: unknown;
    try {
      planAqlmExport(linears);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ExportError);
    for (const w of words) expect((err as Error).message).toContain(w);
  };
  it('mixed vector lengths or code widths', () => {
    refuse(new Map([[A, randomVq(4, 64, 4, 256, 1)], [B, randomVq(4, 64, 8, 256, 2)]]), B, A, 'in_group_size');
    refuse(new Map([[A, randomVq(4, 64, 4, 256, 1)], [B, randomVq(4, 64, 4, 16, 2)]]), B, 'nbits_per_codebook');
  });
  it('signed tables, per-group scales, fixed grids, offsets, ragged rows', () => {
    refuse(new Map([[A, randomVq(4, 64, 4, 256, 1, { signed: true })]]), A, 'sign');
    refuse(new Map([[A, randomVq(4, 64, 4, 256, 1, { groupSize: 32 })]]), A, 'scale per 32');
    refuse(new Map([[A, randomVq(4, 64, 8, 256, 1, { name: 'iq2xxs' })]]), A, 'fixed');
    const off = randomVq(4, 64, 4, 256, 1);
    off.offset[2] = 0.5;
    refuse(new Map([[A, off]]), A, 'offsets');
    refuse(new Map([[A, randomVq(4, 66, 4, 256, 1)]]), A, 'in_features % in_group_size');
  });
  it('a table of 5 entries is written as 2^3 (zero-padded), codes stored signed from 4', async () => {
    const q = randomVq(3, 16, 2, 5, 7);
    const plan = planAqlmExport(new Map([[A, q]]));
    expect(plan.nbits).toBe(3);
    expect(plan.quantizationConfig.linear_weights_not_to_quantize).toEqual(['lm_head.weight']);
  });
});

describe('AQLM import refusals', () => {
  const path = () => fixture('models/stories260K');
  const M = 'model.layers.0.self_attn.q_proj';
  /** A folder with stories260K's config, quantization_config `qc`, and the given tensors. */
  async function folder(qc: Record<string, unknown>, tensors: SafetensorsWriteTensor[]): Promise<FolderSource> {
    const cfg = JSON.parse(await readFile(join(path()!, 'config.json'), 'utf8'));
    const files = new Map<string, Uint8Array>();
    files.set('config.json', new TextEncoder().encode(JSON.stringify({ ...cfg, quantization_config: qc })));
    const chunks: Uint8Array[] = [];
    await writeSafetensors({ write: (b) => void chunks.push(b.slice()) }, tensors);
    files.set('model.safetensors', new Uint8Array(Buffer.concat(chunks))); // a plain Uint8Array: Buffer.slice is a view
    return memFolder(files, 'bad-aqlm');
  }
  const QC = { quant_method: 'aqlm', in_group_size: 4, out_group_size: 1, num_codebooks: 1, nbits_per_codebook: 3, linear_weights_not_to_quantize: [] };
  const layer = (codes: Int8Array | Int16Array, o = 2, ig = 3): SafetensorsWriteTensor[] => [
    { name: `${M}.codes`, dtype: codes instanceof Int8Array ? 'I8' : 'I16', shape: [o, ig, 1], data: new Uint8Array(codes.buffer) },
    { name: `${M}.codebooks`, dtype: 'F32', shape: [1, 8, 1, 4], data: new Float32Array(32).fill(0.5) },
    { name: `${M}.scales`, dtype: 'F32', shape: [o, 1, 1, 1], data: new Float32Array(o).fill(2) },
  ];
  const open = async (qc: Record<string, unknown>, t: SafetensorsWriteTensor[]) => {
    const m = await openModel({ kind: 'folder', folder: await folder(qc, t) });
    try {
      const w = m.tensors.get(`${M}.weight`)!;
      return { w: await w.readF32(), q: await w.readVq!() };
    } finally {
      await m.close();
    }
  };
  it('reads a hand-made layer, signed and unsigned codes alike', async () => {
    if (!path()) return;
    const { w, q } = await open(QC, layer(Int8Array.from([0, 1, -1, -4, 7, 3])));
    expect([0, 1, 2, 3, 4, 5].map((v) => getIndex(q, Math.floor(v / 3), v % 3))).toEqual([0, 1, 7, 4, 7, 3]);
    expect(w.length).toBe(24);
    expect(w.every((v) => v === 1)).toBe(true);
  });
  it('typed errors: codes out of range, wrong dtype, missing and stray tensors, bad shapes, unsupported configs', async () => {
    if (!path()) return;
    await expect(open(QC, layer(Int8Array.from([0, 1, 2, 8, 0, 0])))).rejects.toThrow(AqlmError);
    await expect(open(QC, layer(Int8Array.from([0, 1, 2, -5, 0, 0])))).rejects.toThrow(/outside \[-4, 8\)/);
    await expect(open(QC, layer(Int16Array.from([0, 1, 2, 3, 0, 0])))).rejects.toThrow(/codes: dtype I16; expected I8/);
    await expect(open(QC, layer(new Int8Array(6)).filter((t) => !t.name.endsWith('codebooks')))).rejects.toThrow(/codebooks: missing/);
    const l = layer(new Int8Array(6));
    await expect(open(QC, [l[0], l[1], { ...l[2], shape: [3, 1, 1, 1], data: new Float32Array(3) }])).rejects.toThrow(/scales: shape \[3, 1, 1, 1\]; expected \[2, 1, 1, 1\]/);
    await expect(open(QC, [l[0], { ...l[1], shape: [1, 8, 1, 2], data: new Float32Array(16) }, l[2]])).rejects.toThrow(AqlmError);
    await expect(open(QC, [l[1], l[2]])).rejects.toThrow(/has no matching \.codes/);
    await expect(open({ ...QC, num_codebooks: 2 }, l)).rejects.toThrow(UnsupportedError);
    await expect(open({ ...QC, in_group_size: 16 }, l)).rejects.toThrow(UnsupportedError);
    await expect(open({ ...QC, nbits_per_codebook: 2.5 }, l)).rejects.toThrow(ConfigError);
    await expect(open({ ...QC, linear_weights_not_to_quantize: 'lm_head.weight' }, l)).rejects.toThrow(ConfigError);
    await expect(open({ ...QC, linear_weights_not_to_quantize: [`${M}.weight`] }, l)).rejects.toThrow(AqlmError);
    const nan = layer(new Int8Array(6));
    nan[1] = { ...nan[1], data: new Float32Array(32).fill(NaN) };
    await expect(open(QC, nan)).rejects.toThrow(/not finite/);
  });
});
