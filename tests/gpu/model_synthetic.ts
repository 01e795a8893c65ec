// Synthetic Llama-family models for the model tests: random weights laid out
// by the spec table, optionally quantized per linear role the way a GGUF stores
// them (q/k rows in GGUF's interleaved order, so loading must reorder whole rows
// of blocks), plus the f64 reference logits of a batch.
import type { LoadedModel, ModelTensor } from '../../src/io/loaded_model.ts';
import { randomF32, rng } from '../../src/gpu/random.ts';
import type { LlamaConfig } from '../../src/arch/config.ts';
import { applyRowOrder, ggufQkInterleaved, qkKind, qkRowOrder } from '../../src/arch/names.ts';
import { paramSpec } from '../../src/arch/params.ts';
import { BLOCK_FORMATS, GgmlType } from '../../src/quant/formats.ts';
import { isLegacyType, quantizeLegacy } from '../../src/quant/quantize/ggml_legacy.ts';
import { quantizeKQuant } from '../../src/quant/quantize/kquants.ts';
import { llamaForwardRef } from '../../src/ref/llama.ts';
import { ggmlQuantize } from '../../src/quant/quantize/ggml_quantize.ts';
import { isVqGgmlType, vqCodec } from '../../src/quant/vq/codecs.ts';
import { dequantizeVq } from '../../src/quant/vq/vqtensor.ts';

export const base: LlamaConfig = {
  architecture: 'llama', vocabSize: 96, hiddenSize: 32, intermediateSize: 42, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 8,
  ropeTheta: 10000, ropeScaling: { type: 'none' }, rmsNormEps: 1e-5, tieWordEmbeddings: false, qkvBias: false, oBias: false, mlpBias: false,
  bosTokenId: 1, eosTokenIds: [2], maxPositions: 64, slidingWindow: null,
};

/** Gemma 3's block at test size: sliding layers 0, 1 (window 3, local base 10000) and global layer 2, head_dim 16 ≠ 32/4. */
export const gemmaTest: LlamaConfig = {
  ...base, architecture: 'gemma3', numLayers: 3, headDim: 16, tieWordEmbeddings: true, ropeTheta: 1e6, slidingWindow: 3,
  qkNorm: true, sandwichNorms: true, mlpActivation: 'gelu_tanh', embedScale: Math.fround(Math.sqrt(32)), slidingPattern: 3, ropeThetaLocal: 10000,
};

export type Types = Partial<Record<string, GgmlType>>;

/**
 * A LoadedModel of random weights; `types` quantizes linear roles (and 'lm_head', and the token table as
 * 'embed') the way a GGUF would store them: scalar block types by sub4's llama.cpp quantizers, codebook
 * types (IQ4_NL, …) by ggmlQuantize and read back through their codec.
 */
export function synthetic(c: LlamaConfig, seed: number, types: Types = {}): LoadedModel {
  const tensors = new Map<string, ModelTensor>();
  const ggufOrder = ggufQkInterleaved(c.architecture);
  let s = seed;
  for (const p of paramSpec(c)) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const r = randomF32(n, s++);
    const values = p.kind === 'norm' ? r.map((v) => 1 + 0.2 * v) : r.map((v) => v * (p.kind === 'embedding' ? 1 : 0.3));
    const type = p.kind === 'linear' || p.kind === 'embedding' ? types[p.role] : undefined;
    const kind = qkKind(p.name);
    const heads = kind === 'q' ? c.numHeads : c.numKvHeads;
    const rowOrder = type !== undefined && ggufOrder && kind && p.kind === 'linear' ? qkRowOrder(p.shape[0], heads, 'gguf_to_hf') : null;
    let raw: Uint8Array;
    let f32: Float32Array;
    if (type === undefined) {
      f32 = values;
      raw = new Uint8Array(values.buffer);
    } else {
      const [rows, cols] = p.shape;
      const fileRows = rowOrder ? applyRowOrder(values, cols, qkRowOrder(rows, heads, 'hf_to_gguf')) : values;
      let deq: Float32Array;
      if (isVqGgmlType(type)) {
        raw = ggmlQuantize(type, fileRows, rows, cols, null);
        deq = dequantizeVq(vqCodec(type).decode(raw, rows, cols).q);
      } else {
        raw = isLegacyType(type) ? quantizeLegacy(type, fileRows) : quantizeKQuant(type, fileRows, cols);
        const f = BLOCK_FORMATS[type as keyof typeof BLOCK_FORMATS];
        deq = new Float32Array(n);
        f.dequantize(raw, deq, n / f.blockSize);
      }
      f32 = rowOrder ? applyRowOrder(deq, cols, rowOrder) : deq;
    }
    tensors.set(p.name, {
      name: p.name, ggufName: null, shape: p.shape, type: type === undefined ? 'F32' : GgmlType[type], ggmlType: type ?? null,
      bytes: raw.length, rowOrder, readF32: async () => f32.slice(), readRaw: async () => raw.slice(),
    });
  }
  return { format: 'gguf', name: `synthetic-${seed}`, fileBytes: 0, config: c, tensors, tokenizer: null, tokenizerProblem: 'synthetic', close: async () => {} };
}

export async function refLogits(m: LoadedModel, ids: number[], B: number, T: number): Promise<Float64Array> {
  const w = new Map<string, Float32Array>();
  for (const [n, t] of m.tensors) w.set(n, await t.readF32());
  return llamaForwardRef(m.config, (n) => w.get(n), ids, B, T);
}

/** Seeded random token ids in [0, V). */
export const tokens = (n: number, V: number, seed: number) => {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.floor(r() * V));
};
