// The GPU forward (src/model/llama.ts) against the f64 reference forward
// (src/ref/llama.ts) on small synthetic models that cover what the real
// fixtures do not: Qwen2 q/k/v biases with a tied head, Qwen3 per-head q/k
// norms with head_dim ≠ hidden/heads (dense and quantized), SmolLM3's NoPE
// layers, Gemma 3 (four norms, GeGLU, scaled embeddings, sliding and global
// layers with their own RoPE bases), Mistral's sliding
// window with o/mlp biases, a batch of 2 with T not a multiple of 4, and every
// quantized block type (q/k stored in GGUF's interleaved row order, so whole
// rows of blocks are reordered on load) with a quantized LM head; quantized token
// tables (scalar and codebook, tied and untied, Gemma's scaled lookup). Then the KV
// cache (decode step by step = full forward), saved activations, the chunked
// per-token loss, load errors, and buffer views.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/close.ts';
import { FormatError } from '../../src/base/errors.ts';
import type { LoadedModel } from '../../src/io/loaded_model.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { validateConfig, type LlamaConfig } from '../../src/arch/config.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { KvCache } from '../../src/model/kv_cache.ts';
import { GgmlType } from '../../src/quant/formats.ts';
import { rmsnormForwardRef } from '../../src/ref/rmsnorm.ts';
import { GpuTensor, ledgerOf } from '../../src/gpu/buffers.ts';
import { viewAs } from '../../src/model/view.ts';
import { base, gemmaTest, refLogits, synthetic, tokens, type Types } from './model_synthetic.ts';

async function gpuLogits(ctx: GpuContext, m: LoadedModel, ids: number[], B: number, T: number, save = false) {
  const weights = await loadWeights(ctx, m);
  const model = new LlamaModel(ctx, weights);
  const acts = model.activations(B, T, save);
  model.forward(acts, ids);
  const z = model.logits(acts);
  const got = await z.read();
  z.destroy();
  return { got, model, acts, done: () => (acts.destroy(), weights.destroy()) };
}

const CASES: [string, LlamaConfig, number, number, Types][] = [
  ['llama GQA untied, B=2 T=7', base, 2, 7, {}],
  ['qwen2 q/k/v biases, tied head', validateConfig({ ...base, architecture: 'qwen2', qkvBias: true, tieWordEmbeddings: true }, 'qwen2'), 1, 9, {}],
  ['qwen3 q/k norms, head_dim 12 ≠ hidden/heads, tied head, B=2 T=5', validateConfig({ ...base, architecture: 'qwen3', qkNorm: true, headDim: 12, tieWordEmbeddings: true }, 'qwen3'), 2, 5, {}],
  ['qwen3 q/k norms, head_dim 16, quantized q/k/o', validateConfig({ ...base, architecture: 'qwen3', qkNorm: true, headDim: 16 }, 'qwen3q'), 1, 7, { q: GgmlType.Q8_0, k: GgmlType.Q4_0, o: GgmlType.Q5_1 }],
  ['smollm3 NoPE layer 1 of 3, tied head, B=2 T=6', validateConfig({ ...base, architecture: 'smollm3', numLayers: 3, noRopeLayers: [1], tieWordEmbeddings: true }, 'smollm3'), 2, 6, {}],
  ['gemma3 four norms, GeGLU, scaled embeddings, sliding/global layers with two RoPE bases, B=2 T=6', validateConfig(gemmaTest, 'gemma3'), 2, 6, {}],
  ['gemma3 quantized q/o/up', validateConfig(gemmaTest, 'gemma3q'), 1, 7, { q: GgmlType.Q8_0, o: GgmlType.Q4_0, up: GgmlType.Q5_0 }],
  ['mistral sliding window 3, o/mlp biases', validateConfig({ ...base, architecture: 'mistral', slidingWindow: 3, oBias: true, mlpBias: true }, 'mistral'), 2, 10, {}],
  [
    'every quantized type, q/k in GGUF row order, quantized LM head',
    validateConfig({ ...base, hiddenSize: 256, intermediateSize: 256, numHeads: 4, numKvHeads: 2, headDim: 64, numLayers: 1, vocabSize: 40 }, 'quant'),
    1, 6,
    { q: GgmlType.Q4_K, k: GgmlType.Q2_K, v: GgmlType.Q5_1, o: GgmlType.Q3_K, gate: GgmlType.Q8_0, up: GgmlType.Q5_K, down: GgmlType.Q4_0, lm_head: GgmlType.Q6_K },
  ],
  // Quantized token tables stay quantized on the GPU (src/model/embedding.ts): looked up by gathering rows, and a tied
  // head is the quantized linear over the same buffers.
  [
    'quantized token table (Q4_K) and LM head (Q6_K), untied',
    validateConfig({ ...base, hiddenSize: 256, intermediateSize: 256, numHeads: 4, numKvHeads: 2, headDim: 64, numLayers: 1, vocabSize: 41 }, 'embq'),
    2, 5,
    { embed: GgmlType.Q4_K, q: GgmlType.Q4_K, gate: GgmlType.Q5_K, lm_head: GgmlType.Q6_K },
  ],
  ['gemma3 tied Q5_1 token table: scaled quantized lookup, quantized tied head', validateConfig(gemmaTest, 'gemma3e'), 2, 6, { embed: GgmlType.Q5_1, q: GgmlType.Q8_0 }],
  ['qwen2 tied IQ4_NL token table (a codebook table and head)', validateConfig({ ...base, architecture: 'qwen2', qkvBias: true, tieWordEmbeddings: true }, 'qwen2e'), 1, 9, { embed: GgmlType.IQ4_NL }],
  [
    'legacy types with 32-wide blocks next to a dense down_proj of odd width (42)',
    base, 1, 5,
    { q: GgmlType.Q4_1, k: GgmlType.Q5_0, v: GgmlType.Q8_0, o: GgmlType.Q4_0, gate: GgmlType.Q5_1, up: GgmlType.Q4_0 },
  ],
];

describe('llama forward: GPU vs f64 reference', () => {
  for (const [name, c, B, T, types] of CASES)
    it(name, async () => {
      const ctx = await gpu();
      const m = synthetic(c, 11, types);
      const ids = tokens(B * T, c.vocabSize, 5);
      const { got, done } = await gpuLogits(ctx, m, ids, B, T);
      done();
      expectClose(`${name} logits`, got, await refLogits(m, ids, B, T), 1e-5);
    });

  it('a quantized token table stays quantized on the GPU and a tied head shares its buffers; a float one stays f32', async () => {
    const ctx = await gpu();
    const c = validateConfig({ ...base, tieWordEmbeddings: true }, 'tiedq');
    const q = await loadWeights(ctx, synthetic(c, 13, { embed: GgmlType.Q4_0 }));
    const f = await loadWeights(ctx, synthetic(c, 13));
    try {
      expect(q.embed.kind).toBe('quant');
      expect(q.lmHead.kind).toBe('quant');
      expect(q.lmHead.w).toBe(q.embed.w);
      expect(f.embed.kind).toBe('dense');
      expect(f.lmHead.w).toBe(f.embed.w);
      // Q4_0 on the GPU: 4-bit codes and an f32 scale and offset per 32 values = 6 bits a weight against 32.
      const V = c.vocabSize, C = c.hiddenSize;
      expect(f.bytes - q.bytes).toBe(V * C * 4 - (V * C) / 2 - 2 * 4 * V * (C / 32));
    } finally {
      q.destroy();
      f.destroy();
    }
  });

  it('saved activations give the same logits and keep every layer apart', async () => {
    const ctx = await gpu();
    const m = synthetic(base, 12);
    const ids = tokens(8, base.vocabSize, 6);
    const a = await gpuLogits(ctx, m, ids, 1, 8, false);
    const b = await gpuLogits(ctx, m, ids, 1, 8, true);
    expect(Array.from(b.got)).toEqual(Array.from(a.got));
    expect(b.acts.get('q', 0).buffer).not.toBe(b.acts.get('q', 1).buffer);
    expect(a.acts.get('q', 0).buffer).toBe(a.acts.get('q', 1).buffer);
    // Each layer's saved normed input is still that layer's: xn1 = rmsnorm(x) with the layer's own weight.
    for (let l = 0; l < base.numLayers; l++) {
      const x = await b.acts.get('x', l).read();
      const w = await m.tensors.get(`model.layers.${l}.input_layernorm.weight`)!.readF32();
      expectClose(`saved xn1 of layer ${l}`, await b.acts.get('xn1', l).read(), rmsnormForwardRef(x, w, base.rmsNormEps).y, 1e-6);
    }
    a.done();
    b.done();
  });

  it('KV cache: prefill then one token at a time equals the full forward', async () => {
    const ctx = await gpu();
    const c = validateConfig({ ...base, slidingWindow: 4 }, 'swa');
    const m = synthetic(c, 13, { q: GgmlType.Q8_0 });
    const ids = tokens(9, c.vocabSize, 7);
    const want = await refLogits(m, ids, 1, ids.length);
    const weights = await loadWeights(ctx, m);
    const model = new LlamaModel(ctx, weights);
    const cache = new KvCache(ctx, c, 1, 12);
    const got = new Float32Array(ids.length * c.vocabSize);
    const prefill = model.activations(1, 5);
    model.forward(prefill, ids.slice(0, 5), { cache });
    const z0 = model.logits(prefill);
    got.set(await z0.read(), 0);
    const step = model.activations(1, 1);
    for (let t = 5; t < ids.length; t++) {
      model.forward(step, [ids[t]], { cache });
      const z = model.logits(step);
      got.set(await z.read(), t * c.vocabSize);
      z.destroy();
    }
    expect(cache.length).toBe(9);
    const cache2 = new KvCache(ctx, c, 2, 4);
    expect(() => model.forward(step, [1], { cache: cache2 })).toThrow(/2 sequences/);
    const small = new KvCache(ctx, c, 1, 4);
    expect(() => model.forward(prefill, ids.slice(0, 5), { cache: small })).toThrow(/0 \+ 5 positions exceed its capacity of 4/);
    [z0, prefill, step, cache, cache2, small, weights].forEach((t) => t.destroy());
    expectClose('decode logits', got, want, 1e-5);
  });

  it('KV cache on Gemma 3 (sliding layers 0-1 with window 3, global layer 2) and SmolLM3 NoPE: decode equals the full forward', async () => {
    const ctx = await gpu();
    for (const c of [validateConfig(gemmaTest, 'gemma3'), validateConfig({ ...base, architecture: 'smollm3', numLayers: 3, noRopeLayers: [1] }, 'smollm3')]) {
      const m = synthetic(c, 14);
      const ids = tokens(8, c.vocabSize, 8);
      const want = await refLogits(m, ids, 1, ids.length);
      const weights = await loadWeights(ctx, m);
      const model = new LlamaModel(ctx, weights);
      const cache = new KvCache(ctx, c, 1, 8);
      const got = new Float32Array(ids.length * c.vocabSize);
      const step = model.activations(1, 1);
      for (let t = 0; t < ids.length; t++) {
        model.forward(step, [ids[t]], { cache });
        const z = model.logits(step);
        got.set(await z.read(), t * c.vocabSize);
        z.destroy();
      }
      [step, cache, weights].forEach((t) => t.destroy());
      expectClose(`${c.architecture} decode logits`, got, want, 1e-5);
    }
  });

  it('per-token loss through the chunked LM head equals −log softmax at the targets', async () => {
    const ctx = await gpu();
    const m = synthetic(base, 14, { lm_head: GgmlType.Q8_0 });
    const ids = tokens(12, base.vocabSize, 8);
    const { got, model, acts, done } = await gpuLogits(ctx, m, ids, 2, 6);
    const V = base.vocabSize;
    const targets = ids.map((_, i) => (i % 6 === 5 ? 0xffffffff : ids[i + 1]));
    const mask = ids.map((_, i) => (i === 3 ? 0 : 1));
    const lossT = model.tokenLoss(acts, targets, mask, 5);
    const loss = await lossT.read();
    lossT.destroy();
    done();
    const want = targets.map((t, i) => {
      if (t >= V || !mask[i]) return 0;
      const row = got.subarray(i * V, (i + 1) * V);
      const max = Math.max(...row);
      return max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0)) - row[t];
    });
    expectClose('per-token loss', loss, want, 1e-5);
  });

  it('load errors name the tensor; bad token ids are refused', async () => {
    const ctx = await gpu();
    const m = synthetic(base, 15);
    m.tensors.delete('model.layers.1.mlp.up_proj.weight');
    await expect(loadWeights(ctx, m)).rejects.toThrow(FormatError);
    await expect(loadWeights(ctx, m)).rejects.toThrow(/model\.layers\.1\.mlp\.up_proj\.weight is missing/);
    const m2 = synthetic(base, 16);
    m2.tensors.set('model.norm.weight', { ...m2.tensors.get('model.norm.weight')!, shape: [31] });
    await expect(loadWeights(ctx, m2)).rejects.toThrow(/model\.norm\.weight is \[31\], but the config implies \[32\]/);
    const weights = await loadWeights(ctx, synthetic(base, 17));
    const model = new LlamaModel(ctx, weights);
    const acts = model.activations(1, 2);
    expect(() => model.forward(acts, [1, 96])).toThrow(/token id 96 at position 1 is outside the vocabulary/);
    expect(() => model.forward(acts, [1])).toThrow(/1 token ids for a batch of 1×2/);
    acts.destroy();
    weights.destroy();
  });

  it('a view shares the buffer under another shape and owns nothing', async () => {
    const ctx = await gpu();
    const t = GpuTensor.from(ctx, Float32Array.from({ length: 24 }, (_, i) => i), [6, 4], 'f32');
    const live = ledgerOf(ctx).live;
    const v = viewAs(t, [2, 3, 4]);
    expect(v.shape).toEqual([2, 3, 4]);
    expect(v.size).toBe(24);
    expect(v.buffer).toBe(t.buffer);
    expect(v).toBeInstanceOf(GpuTensor);
    expect(viewAs(t, [6, 4])).toBe(t);
    expect(() => viewAs(t, [5, 4])).toThrow(/holds 20 values/);
    v.destroy();
    expect(ledgerOf(ctx).live).toBe(live);
    expect(Array.from(await t.read())).toEqual(Array.from({ length: 24 }, (_, i) => i));
    t.destroy();
  });
});
