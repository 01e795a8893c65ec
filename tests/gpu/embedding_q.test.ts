// The quantized embedding lookup (embedding_q.wgsl, embedding_vq.wgsl) for every
// block family the loader keeps on the GPU: sub4's RTN grids at every bit width
// (odd row lengths, per-channel groups), every scalar ggml type (legacy and
// K-quants, and the tables the GPU converts from blocks), every codebook ggml type (i-quant grids, IQ4/FP4 tables, ternary)
// and the codebook layouts of random / learned tables. Awkward shapes: odd
// vocabularies, rows whose quads do not fill a workgroup, code parts split by
// rows, folded grids, repeated ids, the first and last row, Gemma's scale.
// Each result is held to (a) the GPU's own dequantize-then-gather (dequantizeGpu
// into an f32 table, then embeddingForward): exactly 0, and (b) the CPU
// reference embeddingQRef (f32 steps): printed, within one rounding of a fused
// multiply-add.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { compareArrays, normRelError } from '../../src/gpu/compare.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { embeddingForward, embeddingForwardQ, uploadTokenIds } from '../../src/gpu/kernels/embedding.ts';
import { dequantizeGpu } from '../../src/gpu/kernels/qlinear.ts';
import { uploadQTensor, type GpuQTensor } from '../../src/gpu/qtensor_gpu.ts';
import { uploadVqTensor } from '../../src/gpu/vq_gpu.ts';
import { gpuConvertible, uploadGgufBlocks } from '../../src/gpu/kernels/gguf_convert.ts';
import { randomF32, rng } from '../../src/gpu/random.ts';
import { embeddingQRef } from '../../src/ref/embedding.ts';
import { QBITS, type QTensor } from '../../src/quant/qtensor.ts';
import { quantizeRtn } from '../../src/quant/quantize/rtn.ts';
import { ggmlQuantize, quantizeRequiresImatrix } from '../../src/quant/quantize/ggml_quantize.ts';
import { GgmlType, ggmlTypeInfo } from '../../src/quant/formats.ts';
import { ggufToQTensor, type QuantGgmlType } from '../../src/quant/gguf_qtensor.ts';
import { GRID_CODECS } from '../../src/quant/vq/grid_codecs.ts';
import { TABLE_CODECS } from '../../src/quant/vq/table_codecs.ts';
import type { VqTensor } from '../../src/quant/vq/vqtensor.ts';
import { randomVq } from '../helpers/vq_case.ts';

/** N ids over [0, V): random, then repeats, and the first and last row. */
function idsFor(N: number, V: number, seed: number): number[] {
  const r = rng(seed);
  const ids = Array.from({ length: N - 3 }, () => Math.floor(r() * V));
  return [0, ...ids, ids[0] ?? 0, V - 1];
}

interface Opts {
  N: number;
  scale?: number;
  foldAt?: number;
  /** Rows of codes per part (the binding limit forced small). */
  partRows?: number;
}

/** `gpuTable`: the table already on the GPU (the load's GPU conversion), else q uploaded here. */
async function check(ctx: GpuContext, label: string, q: QTensor | VqTensor, o: Opts, gpuTable?: GpuQTensor): Promise<void> {
  const V = q.rows, C = q.cols;
  const vq = 'codebook' in q;
  const wpr = q.codes.length / V;
  // Scalar parts may carry one padding word (3/5/6 bits); wpr ≥ 2 for every case here, so + 4 never adds a row.
  const upload = { maxBindingBytes: o.partRows ? o.partRows * wpr * 4 + (vq ? 0 : 4) : undefined };
  const w: GpuQTensor = gpuTable ?? (vq ? uploadVqTensor(ctx, q, label, upload) : uploadQTensor(ctx, q, label, upload));
  if (o.partRows) expect(w.codeParts.length, 'code parts').toBe(Math.ceil(V / o.partRows));
  const ids = idsFor(o.N, V, V * 31 + C);
  const tids = uploadTokenIds(ctx, ids, V);
  const x = GpuTensor.from(ctx, new Float32Array(o.N * C).fill(NaN), [o.N, C], 'f32');
  embeddingForwardQ(ctx, x, w, tids, { scale: o.scale, foldAt: o.foldAt });
  const got = await x.read();
  // (a) the GPU's dequantize-then-gather in f32.
  const table = GpuTensor.empty(ctx, [V, C], 'f32');
  dequantizeGpu(ctx, w, table);
  const y = GpuTensor.empty(ctx, [o.N, C], 'f32');
  embeddingForward(ctx, y, table, tids, { scale: o.scale });
  const want = await y.read();
  // (b) the CPU reference.
  const ref = embeddingQRef(q, ids, o.scale);
  const a = compareArrays(got, want), b = compareArrays(got, ref);
  console.log(`${label} V=${V} C=${C} N=${o.N}${o.partRows ? ` parts=${w.codeParts.length}` : ''}${o.scale ? ` scale=${o.scale.toFixed(3)}` : ''}: max abs vs dequantize-then-gather ${a.maxAbs}, vs CPU reference ${b.maxAbs} (rel ${normRelError(got, ref).toExponential(2)})`);
  expect(a.maxAbs, `${label}: vs the GPU's dequantize-then-gather (worst index ${a.worst})`).toBe(0);
  expect(normRelError(got, ref), `${label}: vs embeddingQRef (worst index ${b.worst})`).toBeLessThanOrEqual(1e-6);
  [tids, x, table, y].forEach((t) => t.destroy());
  w.destroy();
}

const GEMMA = Math.fround(Math.sqrt(640));

describe('quantized embedding lookup: sub4 grids (QTensor)', () => {
  for (const bits of QBITS)
    it(`${bits}-bit RTN: odd V and C, per-channel and ragged groups, parts, folded grid`, async () => {
      const ctx = await gpu();
      const cases: [number, number, 16 | 32 | 64 | 'channel', Opts][] = [
        [37, 45, 'channel', { N: 50 }], // C odd: the last quad is partial
        [13, 100, 16, { N: 9, scale: GEMMA }], // ragged last group (100 = 6·16 + 4)
        [29, 96, 32, { N: 33, partRows: 4 }], // 8 parts, the last one a single row
        [5, 64, 64, { N: 300, foldAt: 3 }], // 300·16 quads = 75 workgroups folded to [3, 25]
        [1, 7, 'channel', { N: 3 }], // one row: every id 0
      ];
      for (const [V, C, G, o] of cases) {
        const q = quantizeRtn(randomF32(V * C, bits * 1000 + V * C), V, C, { bits, groupSize: G });
        await check(ctx, `${bits}-bit G=${G}`, q, o);
      }
    });
});

const SCALAR_TYPES: QuantGgmlType[] = [GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K];

describe('quantized embedding lookup: GGUF block types', () => {
  it('every scalar type (legacy and K-quants), odd vocabulary, split parts', async () => {
    const ctx = await gpu();
    for (const type of SCALAR_TYPES) {
      const block = ggmlTypeInfo(type)!.blockSize;
      const V = 19, C = block === 256 ? 256 * 3 : 32 * 5; // 192 or 40 quads per row: rows straddle workgroups
      const bytes = ggmlQuantize(type, randomF32(V * C, type + 7), V, C, null);
      const { q } = ggufToQTensor(type, bytes, V, C);
      await check(ctx, GgmlType[type], q, { N: 23, scale: type === GgmlType.Q4_K ? GEMMA : undefined, partRows: type === GgmlType.Q6_K || type === GgmlType.Q5_0 ? 6 : undefined });
    }
  }, 120_000);

  it('blocks converted on the GPU as hardware adapters load them (gguf_convert.wgsl): Q4_0, Q4_K, Q6_K', async () => {
    const ctx = await gpu();
    for (const type of SCALAR_TYPES.filter(gpuConvertible)) {
      const V = 21, C = 512;
      const bytes = ggmlQuantize(type, randomF32(V * C, type + 13), V, C, null);
      await check(ctx, `${GgmlType[type]} (GPU-converted)`, ggufToQTensor(type, bytes, V, C).q, { N: 19 }, uploadGgufBlocks(ctx, type, bytes, V, C));
    }
  });

  it('every codebook type (i-quant grids, IQ4 / FP4 tables, ternary)', async () => {
    const ctx = await gpu();
    for (const codec of [...GRID_CODECS, ...TABLE_CODECS]) {
      const type = codec.type;
      const V = 11, C = 256 * 2;
      const weights = quantizeRequiresImatrix(type) ? randomF32(C, type).map((v) => 1 + Math.abs(v)) : null;
      const bytes = ggmlQuantize(type, randomF32(V * C, type + 11), V, C, weights);
      const { q } = codec.decode(bytes, V, C);
      await check(ctx, GgmlType[type], q, { N: 17, partRows: type === GgmlType.IQ2_XXS || type === GgmlType.IQ4_NL ? 3 : undefined });
    }
  }, 300_000);
});

describe('quantized embedding lookup: codebook layouts', () => {
  it('every vector length, index width and signedness; learned tables; parts; Gemma scale', async () => {
    const ctx = await gpu();
    for (const dim of [1, 2, 4, 8] as const)
      for (const bits of [2, 4, 8, 16] as const)
        for (const signed of [false, true]) {
          const learned = dim === 4 && bits === 8;
          const q = randomVq({ O: 23, I: dim === 8 ? 72 : 68, dim, bits, signed, G: 'channel', learned }, dim * 100 + bits + (signed ? 1 : 0));
          await check(ctx, `vq d=${dim} ${bits}-bit${signed ? ' signed' : ''}${learned ? ' learned' : ''}`, q, { N: 21, partRows: signed ? 5 : undefined, scale: bits === 4 ? GEMMA : undefined });
        }
    const q8 = randomVq({ O: 9, I: 96, dim: 8, bits: 8, signed: true, G: 32 }, 808);
    await check(ctx, 'vq d=8 8-bit signed G=32', q8, { N: 200, foldAt: 2 });
  }, 120_000);
});

describe('quantized embedding lookup: ids and arguments', () => {
  it('clamps ids ≥ V that bypass the check to the last row; refuses a wrong x, a bad scale, a ragged codebook row', async () => {
    const ctx = await gpu();
    const V = 6, C = 40;
    const q = quantizeRtn(randomF32(V * C, 99), V, C, { bits: 3, groupSize: 'channel' });
    const w = uploadQTensor(ctx, q);
    const raw = [2, 6, 0xffffffff, 5];
    const tids = GpuTensor.from(ctx, Uint32Array.from(raw), [4], 'u32');
    const x = GpuTensor.empty(ctx, [4, C], 'f32');
    embeddingForwardQ(ctx, x, w, tids);
    expect(Array.from(await x.read())).toEqual(Array.from(embeddingQRef(q, raw.map((i) => Math.min(i, V - 1)))));
    expect(() => embeddingForwardQ(ctx, GpuTensor.empty(ctx, [4, C + 1], 'f32'), w, tids)).toThrow(/is not \[4, 40\]/);
    expect(() => embeddingForwardQ(ctx, x, w, tids, { scale: Infinity })).toThrow(/scale Infinity is not finite/);
    expect(() => uploadTokenIds(ctx, [0, 6], V)).toThrow(/token id 6 at position 1 .*\[0, 6\)/);
    const ragged = uploadVqTensor(ctx, randomVq({ O: 2, I: 6, dim: 2, bits: 4, signed: false, G: 'channel' }, 5));
    expect(() => embeddingForwardQ(ctx, GpuTensor.empty(ctx, [4, 6], 'f32'), ragged, tids)).toThrow(/multiple of 4/);
    [tids, x].forEach((t) => t.destroy());
    w.destroy();
    ragged.destroy();
  });
});
