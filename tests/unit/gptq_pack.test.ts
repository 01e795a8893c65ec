// GPTQ packing (src/io/gptq/pack.ts) against the published unpacking formula
// (formats.md §4.2/4.3, re-derived here from AutoGPTQ/GPTQModel's layout: shift
// and mask of int32 words, 3-bit's three-word chunks with codes 10 and 21 split
// across words, v1's +1 on zeros), exact QTensor → GPTQ → QTensor round trips,
// the export plan and folder, and the typed refusals on both sides.
import { describe, expect, it } from 'vitest';
import { rng } from '../../src/gpu/random.ts';
import { ExportError, type CommitSink, type ExportTarget } from '../../src/export/target.ts';
import { FormatError, UnsupportedError } from '../../src/base/errors.ts';
import { modulePatterns, planGptqExport, writeGptqFolder } from '../../src/export/gptq/folder.ts';
import { GptqError, unpackGptq, type GptqFormat } from '../../src/io/gptq/pack.ts';
import { packGptq } from '../../src/export/gptq/check.ts';
import type { FolderSource } from '../../src/io/hf_folder.ts';
import { openModel } from '../../src/io/model.ts';
import { encodeSafetensors, type SafetensorsWriteTensor } from '../../src/io/safetensors/writer.ts';
import { bytesSource } from '../../src/io/source.ts';
import { isQuantized } from '../../src/model/linear.ts';
import { f16ToF32 } from '../../src/quant/f16.ts';
import { dequantizeQ, emptyQTensor, getCode, groupsPerRow, setCode, type QBits, type QTensor } from '../../src/quant/qtensor.ts';

// ---- The published formula, written independently of pack.ts ----

/** Code of input i, output o from qweight [I·bits/32, O]. */
function publishedCode(qw: Int32Array, O: number, bits: number, i: number, o: number): number {
  if (bits !== 3) {
    const pf = 32 / bits;
    return (qw[Math.floor(i / pf) * O + o] >> (bits * (i % pf))) & ((1 << bits) - 1);
  }
  // 3-bit: 32 codes in 3 words; word 0 holds codes 0..9 at shifts 0,3,…,27 and the low 2 bits of
  // code 10 at 30; word 1 its high bit at 0, codes 11..20 at 1,4,…,28 and the low bit of code 21 at 31;
  // word 2 code 21's high 2 bits at 0 and codes 22..31 at 2,5,…,29.
  const c = Math.floor(i / 32);
  const j = i % 32;
  const w = (n: number) => qw[(3 * c + n) * O + o];
  if (j < 10) return (w(0) >> (3 * j)) & 7;
  if (j === 10) return ((w(0) >> 30) & 0x3) | ((w(1) << 2) & 0x4);
  if (j < 21) return (w(1) >> (3 * (j - 11) + 1)) & 7;
  if (j === 21) return ((w(1) >> 31) & 0x1) | ((w(2) << 1) & 0x6);
  return (w(2) >> (3 * (j - 22) + 2)) & 7;
}

/** Zero point of group g, output o from qzeros [G, O·bits/32] (packed along out), as a reader sees it. */
function publishedZero(qz: Int32Array, O: number, bits: number, g: number, o: number, format: GptqFormat): number {
  const row = qz.subarray((g * O * bits) / 32, ((g + 1) * O * bits) / 32);
  // The same word layout as qweight, with `out` as the packed axis and one "column".
  return publishedCode(row, 1, bits, o, 0) + (format === 'gptq' ? 1 : 0);
}

// ---- Helpers ----

/** f16-exact scales and integer zero points; codes from `code(o, i)`, zeros from `zero(o, g)`. */
function makeQ(O: number, I: number, bits: QBits, gs: number, code: (o: number, i: number) => number, zero: (o: number, g: number) => number): QTensor {
  const q = emptyQTensor(O, I, bits, gs);
  const G = groupsPerRow(I, gs);
  for (let o = 0; o < O; o++) {
    for (let i = 0; i < I; i++) setCode(q, o, i, code(o, i));
    for (let g = 0; g < G; g++) {
      const s = (1 + ((o * 7 + g * 13) % 900)) / 4096; // integer / 2^12 with integer < 2^11: f16-exact
      q.scale[o * G + g] = s;
      q.offset[o * G + g] = Math.fround(-zero(o, g) * s);
    }
  }
  return q;
}

function randomQ(O: number, I: number, bits: QBits, gs: number, seed: number, minZero: number): QTensor {
  const r = rng(seed);
  const maxq = (1 << bits) - 1;
  return makeQ(O, I, bits, gs, () => Math.floor(r() * (maxq + 1)), () => minZero + Math.floor(r() * (maxq + 1 - minZero)));
}

function expectSameQ(got: QTensor, want: QTensor): void {
  expect([got.rows, got.cols, got.bits, got.groupSize]).toEqual([want.rows, want.cols, want.bits, want.groupSize]);
  expect(Buffer.from(got.codes.buffer).equals(Buffer.from(want.codes.buffer)), 'codes').toBe(true);
  expect(Buffer.from(got.scale.buffer).equals(Buffer.from(want.scale.buffer)), 'scales').toBe(true);
  expect(Buffer.from(got.offset.buffer).equals(Buffer.from(want.offset.buffer)), 'offsets').toBe(true);
}

/** An in-memory export target and the folder it leaves. */
function memoryTarget(name = 'mem'): ExportTarget & { files: Map<string, Uint8Array>; folder(): FolderSource } {
  const files = new Map<string, Uint8Array>();
  return {
    files,
    async create(file) {
      const chunks: Uint8Array[] = [];
      const sink: CommitSink = {
        write: (c) => void chunks.push(c.slice()),
        commit: async () => void files.set(file, Buffer.concat(chunks)),
        abort: async () => {},
      };
      return sink;
    },
    folder: () => folderOf(files, name),
  };
}

function folderOf(files: Map<string, Uint8Array>, name: string): FolderSource {
  return { name, list: () => [...files.keys()], open: async (f) => bytesSource(files.get(f)!, f) };
}

const CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 64,
  intermediate_size: 172,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  num_hidden_layers: 1,
  vocab_size: 512,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: true,
};

// ---- Tests ----

describe('GPTQ packing follows the published unpacking formula', () => {
  for (const bits of [2, 3, 4, 8] as const)
    for (const format of ['gptq', 'gptq_v2'] as const)
      it(`${bits}-bit ${format}: every code, zero point and scale`, () => {
        const O = 64; // O·bits is whole words for every width (3-bit needs O % 32 = 0)
        const I = 128;
        const maxq = (1 << bits) - 1;
        const minZ = format === 'gptq' ? 1 : 0;
        const q = makeQ(O, I, bits, 32, (o, i) => (i * 5 + o * 3 + 1) % (maxq + 1), (o, g) => minZ + ((o * 11 + g * 5) % (maxq + 1 - minZ)));
        const p = packGptq(q, { format, name: 'layer' });
        const G = 4;
        expect(p.qweight.length).toBe(((I * bits) / 32) * O);
        expect(p.qzeros.length).toBe((G * O * bits) / 32);
        for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) if (publishedCode(p.qweight, O, bits, i, o) !== getCode(q, o, i)) expect.fail(`code [${o}, ${i}]`);
        for (let o = 0; o < O; o++)
          for (let g = 0; g < G; g++) {
            const z = publishedZero(p.qzeros, O, bits, g, o, format);
            expect(z * q.scale[o * G + g], `zero [${g}, ${o}]`).toBeCloseTo(-q.offset[o * G + g], 12);
            expect(f16ToF32(p.scales[g * O + o])).toBe(q.scale[o * G + g]);
          }
        expect([...p.g_idx]).toEqual(Array.from({ length: I }, (_, i) => Math.floor(i / 32)));
      });

  it('hand-made words: 2/4/8-bit LSB first along in, 3-bit codes 10 and 21 straddle words', () => {
    const one = (bits: QBits, codes: number[], O = 32) => {
      const q = makeQ(O, 32, bits, 32, (o, i) => (o === 0 ? codes[i] ?? 0 : 0), () => 1);
      return packGptq(q, { format: 'gptq_v2', name: 'w' }).qweight;
    };
    expect(one(4, [0, 1, 2, 3, 4, 5, 6, 7])[0] >>> 0).toBe(0x76543210);
    expect(one(2, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3])[0] >>> 0).toBe(0xe4e4e4e4);
    expect(one(8, [1, 2, 3, 0xfe])[0] >>> 0).toBe(0xfe030201);
    const c3 = new Array(32).fill(0);
    c3[10] = 7;
    c3[21] = 7;
    const w3 = one(3, c3);
    expect([w3[0] >>> 0, w3[32] >>> 0, w3[64] >>> 0]).toEqual([0xc0000000, 0x80000001, 0x00000003]);
    c3[10] = 0b100; // only the high bit: word 1, bit 0
    c3[21] = 0b001; // only the low bit: word 1, bit 31
    const w3b = one(3, c3);
    expect([w3b[0] >>> 0, w3b[32] >>> 0, w3b[64] >>> 0]).toEqual([0, 0x80000001, 0]);
    // qzeros: along out; 3-bit zero points of outputs 10 and 21 straddle the same way; v1 stores z − 1.
    const zq = makeQ(32, 32, 3, 32, () => 0, (o) => (o === 10 || o === 21 ? 7 : 0));
    expect([...packGptq(zq, { format: 'gptq_v2', name: 'z' }).qzeros].map((w) => w >>> 0)).toEqual([0xc0000000, 0x80000001, 0x00000003]);
    const z4 = makeQ(8, 32, 4, 32, () => 0, () => 8); // symmetric 4-bit
    expect(packGptq(z4, { format: 'gptq', name: 'z' }).qzeros[0] >>> 0).toBe(0x77777777);
  });
});

describe('QTensor → GPTQ → QTensor is exact', () => {
  for (const bits of [2, 3, 4, 8] as const)
    for (const gs of [32, 64, 128, 'channel'] as const)
      for (const format of ['gptq', 'gptq_v2'] as const)
        it(`${bits}-bit, ${gs === 'channel' ? 'per-channel' : `g${gs}`}, ${format}`, () => {
          const I = gs === 'channel' ? 160 : 256; // 160: a per-channel row that is no QGROUPS size
          const O = 64;
          const q = randomQ(O, I, bits, gs === 'channel' ? I : gs, bits * 100 + I, format === 'gptq' ? 1 : 0);
          const p = packGptq(q, { format, name: 'layer' });
          const back = unpackGptq(p, { bits, inFeatures: I, outFeatures: O, groupSize: gs === 'channel' ? -1 : gs, format, file: 'm.safetensors', name: 'layer' });
          expectSameQ(back, q);
        });
});

describe('refusals', () => {
  it('export: a grid without integer zero points, z = 0 in v1, bits GPTQ cannot hold', () => {
    const q = randomQ(32, 64, 4, 32, 1, 1);
    q.offset[5] += q.scale[5] * 0.3;
    expect(() => packGptq(q, { format: 'gptq_v2', name: 'model.layers.0.self_attn.q_proj' })).toThrow(ExportError);
    expect(() => packGptq(q, { format: 'gptq_v2', name: 'model.layers.0.self_attn.q_proj' })).toThrow(/q_proj: group 1 of row 2 is not on an integer zero-point grid/);
    const z0 = randomQ(32, 64, 4, 32, 2, 1);
    z0.offset[3] = 0; // z = 0
    expect(() => packGptq(z0, { format: 'gptq', name: 'L' })).toThrow(/L: a group has zero point 0.*gptq_v2/);
    expect(() => packGptq(z0, { format: 'gptq_v2', name: 'L' })).not.toThrow();
    expect(() => planGptqExport(new Map([['a.weight', z0]]), { format: 'gptq' })).toThrow(/export with format gptq_v2/);
    expect(planGptqExport(new Map([['a.weight', z0]])).format).toBe('gptq_v2');
    const five = emptyQTensor(32, 64, 5, 32);
    expect(() => planGptqExport(new Map([['a.weight', five]]))).toThrow(/5-bit codes; GPTQ loaders take 2, 3, 4 or 8 bits/);
    const big = randomQ(32, 64, 4, 32, 3, 1);
    big.scale[0] = 1e6;
    big.offset[0] = -8e6;
    expect(() => packGptq(big, { format: 'gptq', name: 'L' })).toThrow(/beyond the f16 range/);
  });

  it('unpack: lengths are checked before anything is allocated', () => {
    const q = randomQ(32, 64, 4, 32, 4, 1);
    const p = packGptq(q, { format: 'gptq', name: 'L' });
    const o = { bits: 4, inFeatures: 64, outFeatures: 32, groupSize: 32, format: 'gptq' as const, file: 'x.safetensors', name: 'L' };
    expect(() => unpackGptq({ ...p, qweight: p.qweight.subarray(1) }, o)).toThrow(GptqError);
    expect(() => unpackGptq({ ...p, qweight: p.qweight.subarray(1) }, o)).toThrow(/x\.safetensors: L\.qweight: 255 values/);
    expect(() => unpackGptq({ ...p, qzeros: new Int32Array(3) }, o)).toThrow(/L\.qzeros/);
    expect(() => unpackGptq({ ...p, scales: new Uint16Array(1) }, o)).toThrow(/L\.scales/);
    expect(() => unpackGptq(p, { ...o, bits: 5 })).toThrow(UnsupportedError);
    expect(() => unpackGptq(p, { ...o, inFeatures: 1e15 })).toThrow(GptqError);
    const gi = p.g_idx.slice();
    gi[3] = 1;
    expect(() => unpackGptq({ ...p, g_idx: gi }, o)).toThrow(/L\.g_idx: input 3 is in group 1.*desc_act/);
    gi[3] = 99;
    expect(() => unpackGptq({ ...p, g_idx: gi }, o)).toThrow(/outside 0\.\.1/);
  });
});

/** A one-layer GPTQ folder built by hand, so each tensor can be made wrong on purpose. */
function handFolder(opts: { quant?: Record<string, unknown>; edit?: (t: SafetensorsWriteTensor[]) => void } = {}) {
  const q = randomQ(64, 64, 4, 32, 9, 1);
  const p = packGptq(q, { format: 'gptq', name: 'q' });
  const m = 'model.layers.0.self_attn.q_proj';
  const tensors: SafetensorsWriteTensor[] = [
    { name: `${m}.qweight`, dtype: 'I32', shape: [8, 64], data: p.qweight },
    { name: `${m}.qzeros`, dtype: 'I32', shape: [2, 8], data: p.qzeros },
    { name: `${m}.scales`, dtype: 'F16', shape: [2, 64], data: p.scales },
    { name: `${m}.g_idx`, dtype: 'I32', shape: [64], data: p.g_idx },
  ];
  opts.edit?.(tensors);
  const quant = { quant_method: 'gptq', bits: 4, group_size: 32, desc_act: false, sym: false, checkpoint_format: 'gptq', ...opts.quant };
  return async () => {
    const files = new Map<string, Uint8Array>([
      ['config.json', new TextEncoder().encode(JSON.stringify({ ...CONFIG, quantization_config: quant }))],
      ['model.safetensors', await encodeSafetensors(tensors, { metadata: { format: 'pt' } })],
    ]);
    return { q, model: await openModel({ kind: 'folder', folder: folderOf(files, 'hand') }) };
  };
}

describe('GPTQ import', () => {
  it('a layer becomes one quantized <module>.weight with readQ, readF32 dequantizing', async () => {
    const { q, model } = await handFolder()();
    const t = model.tensors.get('model.layers.0.self_attn.q_proj.weight')!;
    expect([...model.tensors.keys()]).toEqual(['model.layers.0.self_attn.q_proj.weight']);
    expect(t.type).toBe('GPTQ 4-bit g32');
    expect(t.shape).toEqual([64, 64]);
    expect(isQuantized(t)).toBe(true);
    expectSameQ(await t.readQ!(), q);
    expect(await t.readF32()).toEqual(dequantizeQ(q));
    await expect(t.readRaw()).rejects.toThrow(UnsupportedError);
  });

  it('desc_act with a permuted g_idx is refused at open, naming the file', async () => {
    const perm = (t: SafetensorsWriteTensor[]) => {
      const gi = Int32Array.from({ length: 64 }, (_, i) => (i % 2)); // act-order: groups interleaved
      t[3] = { ...t[3], data: gi };
    };
    await expect(handFolder({ quant: { desc_act: true }, edit: perm })()).rejects.toThrow(UnsupportedError);
    await expect(handFolder({ quant: { desc_act: true }, edit: perm })()).rejects.toThrow(/hand\/model\.safetensors: .*q_proj\.g_idx: desc_act \(act-order\)/);
    // desc_act with in-order groups is just a flag: it loads.
    await expect(handFolder({ quant: { desc_act: true } })()).resolves.toBeTruthy();
  });

  it('bad bits, dtypes, shapes and formats are typed errors naming file and tensor', async () => {
    await expect(handFolder({ quant: { bits: 5 } })()).rejects.toThrow(/hand\/config\.json: 5-bit GPTQ/);
    await expect(handFolder({ quant: { bits: 3 } })()).rejects.toThrow(/qzeros: packs 4-bit zero points, but quantization_config.bits is 3/);
    await expect(handFolder({ quant: { checkpoint_format: 'marlin' } })()).rejects.toThrow(UnsupportedError);
    const retype = (t: SafetensorsWriteTensor[]) => (t[0] = { ...t[0], dtype: 'F32' });
    await expect(handFolder({ edit: retype })()).rejects.toThrow(GptqError);
    await expect(handFolder({ edit: retype })()).rejects.toThrow(/hand\/model\.safetensors: model\.layers\.0\.self_attn\.q_proj\.qweight: dtype F32; expected I32/);
    const reshape = (t: SafetensorsWriteTensor[]) => (t[2] = { ...t[2], shape: [1, 128] });
    await expect(handFolder({ edit: reshape })()).rejects.toThrow(/q_proj\.scales: has 128 columns, qweight has 64 outputs/);
    const drop = (t: SafetensorsWriteTensor[]) => void t.splice(1, 1);
    await expect(handFolder({ edit: drop })()).rejects.toThrow(/q_proj\.qzeros: missing/);
    const groups = (t: SafetensorsWriteTensor[]) => {
      t[1] = { ...t[1], shape: [1, 8], data: new Int32Array(8) };
      t[2] = { ...t[2], shape: [1, 64], data: new Uint16Array(64) };
    };
    // One group where the config says 32: the shapes are believed only when they agree.
    await expect(handFolder({ edit: groups })()).resolves.toBeTruthy();
    await expect(handFolder({ quant: { group_size: 16 } })()).rejects.toThrow(/has 2 groups, which group_size 16 does not give/);
    await expect(handFolder({ quant: { group_size: 'x' } })()).rejects.toThrow(FormatError);
  });

  it('random shapes and contents: the layer loads or a FormatError is thrown, nothing else', async () => {
    const r = rng(2024);
    const pick = <T,>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
    let loaded = 0;
    for (let trial = 0; trial < 150; trial++) {
      const edit = (t: SafetensorsWriteTensor[]) => {
        const k = Math.floor(r() * 4);
        const shape = t[k].shape.map((d) => (r() < 0.5 ? d : pick([1, 2, 3, 6, 7, 8, 16, 63, 64, 65, 128, d * 2])));
        const n = shape.reduce((a, b) => a * b, 1);
        const data = t[k].dtype === 'F16' ? Uint16Array.from({ length: n }, () => Math.floor(r() * 65536)) : Int32Array.from({ length: n }, () => Math.floor(r() * 2 ** 32) | 0);
        t[k] = { ...t[k], shape, data };
      };
      try {
        const { model } = await handFolder({ edit, quant: { bits: pick([2, 3, 4, 8]), group_size: pick([-1, 16, 32, 64]) } })();
        const t = model.tensors.get('model.layers.0.self_attn.q_proj.weight')!;
        const q = await t.readQ!();
        expect([q.rows, q.cols]).toEqual(t.shape);
        loaded++;
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
      }
    }
    expect(loaded).toBeGreaterThan(0); // some edits keep the layer valid (e.g. other random codes)
  });
});

describe('GPTQ export plan and folder', () => {
  it('layers GPTQ cannot pack are written dense and excluded with a negative dynamic match', async () => {
    const linears = new Map<string, QTensor>();
    const roles = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'];
    for (let l = 0; l < 2; l++)
      for (const r of roles) {
        const [O, I] = r === 'mlp.down_proj' ? [64, 172] : r.startsWith('mlp') ? [172, 64] : r === 'self_attn.k_proj' || r === 'self_attn.v_proj' ? [32, 64] : [64, 64];
        linears.set(`model.layers.${l}.${r}.weight`, randomQ(O, I, 4, 32, l * 10 + roles.indexOf(r), 1));
      }
    const plan = planGptqExport(linears, { numLayers: 2 });
    expect(plan.format).toBe('gptq');
    expect(plan.packed.length).toBe(8);
    expect(plan.dense.map((d) => d.name).sort()).toEqual(
      [0, 1].flatMap((l) => ['mlp.down_proj', 'mlp.gate_proj', 'mlp.up_proj'].map((r) => `model.layers.${l}.${r}.weight`)).sort(),
    );
    expect(plan.dense.find((d) => d.name.endsWith('down_proj.weight'))!.why).toMatch(/in_features 172 × 4 bits is not a multiple of 32/);
    const dyn = plan.quantizationConfig.dynamic as Record<string, object>;
    const keys = Object.keys(dyn);
    expect(keys.every((k) => k.startsWith('-:'))).toBe(true);
    // Python re.match semantics: anchored at the start.
    const excluded = (name: string) => keys.some((k) => new RegExp(`^(?:${k.slice(2)})`).test(name));
    for (const l of [0, 1]) {
      for (const r of ['mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj', 'mlp.gate_up_proj']) expect(excluded(`model.layers.${l}.${r}`), r).toBe(true);
      for (const r of ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.qkv_proj', 'self_attn.o_proj']) expect(excluded(`model.layers.${l}.${r}`), r).toBe(false);
    }
    expect(plan.quantizationConfig).toMatchObject({ quant_method: 'gptq', bits: 4, group_size: 32, desc_act: false, sym: false, format: 'gptq', checkpoint_format: 'gptq', lm_head: false, pack_dtype: 'int32' });

    // A mixed grid: most layers 4-bit g32, one 8-bit per-channel → a positive override for it.
    const mixed = new Map([...linears].filter(([n]) => !n.includes('mlp')));
    mixed.set('model.layers.1.self_attn.o_proj.weight', randomQ(64, 64, 8, 64, 77, 1));
    const mp = planGptqExport(mixed, { numLayers: 2 });
    expect(mp.quantizationConfig.dynamic).toEqual({ '+:model\\.layers\\.1\\.self_attn\\.o_proj$': { bits: 8, group_size: -1 } });

    const target = memoryTarget();
    const res = await writeGptqFolder(target, {
      config: { ...CONFIG, num_hidden_layers: 2, torch_dtype: 'float32' },
      linears,
      tensors: [{ name: 'model.norm.weight', shape: [64], read: async () => new Float32Array(64).fill(1.5) }],
      files: [{ name: 'tokenizer.json', read: async () => new TextEncoder().encode('{}') }],
      readme: '# test\n',
    });
    expect(res.files).toEqual(['model.safetensors', 'tokenizer.json', 'README.md', 'quantize_config.json', 'config.json']);
    const cfg = JSON.parse(new TextDecoder().decode(target.files.get('config.json')));
    expect(cfg.torch_dtype).toBe('float16');
    expect(cfg.quantization_config).toEqual(plan.quantizationConfig);
    const m = await openModel({ kind: 'folder', folder: target.folder() });
    for (const [name, q] of linears) {
      const t = m.tensors.get(name)!;
      if (plan.packed.includes(name)) expectSameQ(await t.readQ!(), q);
      else {
        expect(t.type).toBe('F16');
        const want = dequantizeQ(q);
        const got = await t.readF32();
        for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(Math.abs(want[i]) * 2 ** -11 + 1e-7);
      }
    }
    expect(await m.tensors.get('model.norm.weight')!.readF32()).toEqual(new Float32Array(64).fill(1.5));
    await expect(writeGptqFolder(memoryTarget(), { config: CONFIG, linears, tensors: [], files: [{ name: 'config.json', read: async () => new Uint8Array() }] })).rejects.toThrow(/config\.json is written by the exporter/);
  });

  it('module patterns name every given module and no other', () => {
    const ps = modulePatterns(['model.layers.1.mlp.down_proj', 'model.layers.10.mlp.down_proj', 'lm_head'], 12);
    const hit = (n: string) => ps.some((p) => new RegExp(`^(?:${p})`).test(n));
    expect(hit('model.layers.1.mlp.down_proj') && hit('model.layers.10.mlp.down_proj') && hit('lm_head')).toBe(true);
    expect(hit('model.layers.11.mlp.down_proj') || hit('model.layers.0.mlp.down_proj') || hit('model.layers.1.mlp.up_proj')).toBe(false);
  });
});
