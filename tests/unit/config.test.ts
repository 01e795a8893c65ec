// LlamaConfig from the real config.json fixtures (values from SOURCES.md,
// parameter counts as published for each model), inline Mistral / Llama 2
// configs, GGUF metadata maps, and one typed error per validation rule.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, UnsupportedError } from '../../src/base/errors.ts';
import { configFromGgufKv, configFromHf, parameterCount, type LlamaConfig } from '../../src/arch/config.ts';
import { fixture } from '../helpers/fixtures.ts';

const load = (rel: string) => {
  const p = fixture(rel);
  return p ? { json: JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>, file: rel } : null;
};

// [fixture, expected fields, published parameter count]
const FIXTURES: [string, Partial<LlamaConfig>, number][] = [
  [
    'models/stories260K/config.json',
    { architecture: 'llama', vocabSize: 512, hiddenSize: 64, intermediateSize: 172, numLayers: 5, numHeads: 8, numKvHeads: 4, headDim: 8,
      ropeTheta: 10000, ropeScaling: { type: 'none' }, rmsNormEps: 1e-5, tieWordEmbeddings: true, qkvBias: false, oBias: false,
      bosTokenId: 1, eosTokenIds: [2], maxPositions: 512, slidingWindow: null },
    260_032, // SOURCES.md: 260,032 unique
  ],
  [
    'tokenizers/SmolLM2-135M-Instruct/config.json',
    { architecture: 'llama', vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, numLayers: 30, numHeads: 9, numKvHeads: 3, headDim: 64,
      ropeTheta: 100000, ropeScaling: { type: 'none' }, tieWordEmbeddings: true, bosTokenId: 1, eosTokenIds: [2], maxPositions: 8192 },
    134_515_008,
  ],
  [
    'tokenizers/TinyLlama-1.1B-Chat-v1.0/config.json',
    { architecture: 'llama', vocabSize: 32000, hiddenSize: 2048, intermediateSize: 5632, numLayers: 22, numHeads: 32, numKvHeads: 4, headDim: 64,
      ropeTheta: 10000, tieWordEmbeddings: false, eosTokenIds: [2], maxPositions: 2048 },
    1_100_048_384,
  ],
  [
    'tokenizers/Qwen2.5-0.5B-Instruct/config.json',
    { architecture: 'qwen2', vocabSize: 151936, hiddenSize: 896, intermediateSize: 4864, numLayers: 24, numHeads: 14, numKvHeads: 2, headDim: 64,
      ropeTheta: 1e6, rmsNormEps: 1e-6, tieWordEmbeddings: true, qkvBias: true, oBias: false, bosTokenId: 151643, eosTokenIds: [151645],
      maxPositions: 32768, slidingWindow: null },
    494_032_768,
  ],
  [
    'tokenizers/Llama-3.2-1B-Instruct/config.json',
    { architecture: 'llama', vocabSize: 128256, hiddenSize: 2048, numLayers: 16, numHeads: 32, numKvHeads: 8, headDim: 64, ropeTheta: 500000,
      ropeScaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 },
      tieWordEmbeddings: true, bosTokenId: 128000, eosTokenIds: [128001, 128008, 128009], maxPositions: 131072 },
    1_235_814_400,
  ],
];

describe('configFromHf on real config.json files', () => {
  for (const [rel, want, params] of FIXTURES) {
    const fx = load(rel);
    it.skipIf(!fx)(rel, () => {
      const c = configFromHf(fx!.json, rel);
      expect(c).toMatchObject(want);
      expect(parameterCount(c)).toBe(params);
    });
  }
});

// Published hyper-parameters (mistralai/Mistral-7B-v0.1, meta-llama/Llama-2-7b-hf config.json).
const MISTRAL = {
  architectures: ['MistralForCausalLM'], model_type: 'mistral', hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32,
  num_attention_heads: 32, num_key_value_heads: 8, vocab_size: 32000, max_position_embeddings: 32768, rms_norm_eps: 1e-5,
  rope_theta: 10000.0, sliding_window: 4096, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu',
};
const LLAMA2 = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 4096, intermediate_size: 11008, num_hidden_layers: 32,
  num_attention_heads: 32, num_key_value_heads: 32, vocab_size: 32000, max_position_embeddings: 4096, rms_norm_eps: 1e-5,
  rope_scaling: null, bos_token_id: 1, eos_token_id: 2,
};

describe('configFromHf on inline configs', () => {
  it('Mistral 7B: sliding window, GQA, 7.24B parameters', () => {
    const c = configFromHf(MISTRAL, 'mistral.json');
    expect(c).toMatchObject({ architecture: 'mistral', headDim: 128, numKvHeads: 8, slidingWindow: 4096, qkvBias: false });
    expect(parameterCount(c)).toBe(7_241_732_096);
  });
  it('Llama 2 7B: defaults for absent keys, 6.74B parameters', () => {
    const c = configFromHf(LLAMA2, 'llama2.json');
    expect(c).toMatchObject({ ropeTheta: 10000, tieWordEmbeddings: false, ropeScaling: { type: 'none' } });
    expect(parameterCount(c)).toBe(6_738_415_616);
  });
  it('architectures alone is enough; linear scaling; attention_bias; transformers v5 rope_parameters', () => {
    const { model_type: _, ...noType } = LLAMA2;
    expect(configFromHf(noType, 'x').architecture).toBe('llama');
    const lin = configFromHf({ ...LLAMA2, rope_scaling: { type: 'linear', factor: 4 }, attention_bias: true }, 'x');
    expect(lin).toMatchObject({ ropeScaling: { type: 'linear', factor: 4 }, qkvBias: true, oBias: true });
    const v5 = configFromHf({ ...LLAMA2, rope_parameters: { rope_type: 'default', rope_theta: 5e5 } }, 'x');
    expect(v5).toMatchObject({ ropeTheta: 5e5, ropeScaling: { type: 'none' } });
    expect(configFromHf({ ...LLAMA2, eos_token_id: null, bos_token_id: null }, 'x')).toMatchObject({ bosTokenId: null, eosTokenIds: [] });
  });
});

describe('config validation errors name the field and file', () => {
  const cases: [string, Record<string, unknown>, RegExp, typeof ConfigError][] = [
    ['missing field', { ...LLAMA2, hidden_size: undefined }, /^cfg\.json: field "hidden_size" is missing/, ConfigError],
    ['non-integer', { ...LLAMA2, num_hidden_layers: 2.5 }, /field "num_hidden_layers" is 2.5, expected a positive integer/, ConfigError],
    ['string number', { ...LLAMA2, vocab_size: '32000' }, /field "vocab_size" is "32000", expected a number/, ConfigError],
    ['heads do not divide hidden', { ...LLAMA2, num_attention_heads: 30 }, /num_attention_heads" \(30\) does not divide hidden_size \(4096\)/, ConfigError],
    ['kv heads do not divide heads', { ...LLAMA2, num_key_value_heads: 5 }, /numKvHeads \(5\) does not divide numHeads \(32\)/, ConfigError],
    ['odd head_dim', { ...LLAMA2, head_dim: 7 }, /headDim \(7\) must be even/, ConfigError],
    ['zero eps', { ...LLAMA2, rms_norm_eps: 0 }, /rms_norm_eps" is 0, expected a positive number/, ConfigError],
    ['eos outside vocab', { ...LLAMA2, eos_token_id: [2, 40000] }, /eosTokenIds 40000 is outside the vocabulary \(32000\)/, ConfigError],
    ['bad eos entry', { ...LLAMA2, eos_token_id: [2, -1] }, /field "eos_token_id\[1\]" is -1/, ConfigError],
    ['unknown model type', { ...LLAMA2, model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] }, /unsupported model_type "gpt2".*supported model_type: llama, mistral, qwen2/, ConfigError],
    ['llama3 scaling without factors', { ...LLAMA2, rope_scaling: { rope_type: 'llama3', factor: 8 } }, /rope_scaling\.low_freq_factor" is missing/, ConfigError],
    ['yarn scaling', { ...LLAMA2, rope_scaling: { type: 'yarn', factor: 4 } }, /rope_scaling type "yarn"/, UnsupportedError],
    ['gelu', { ...LLAMA2, hidden_act: 'gelu' }, /hidden_act "gelu"/, UnsupportedError],
  ];
  for (const [what, json, msg, cls] of cases)
    it(what, () => {
      const run = () => configFromHf(json, 'cfg.json');
      expect(run).toThrow(cls);
      expect(run).toThrow(msg);
    });
  it('rejects a non-object', () => expect(() => configFromHf([], 'cfg.json')).toThrow(/not a JSON object/));
});

/** GGUF kv map of stories260K.gguf as listed in SOURCES.md. */
const kv = (o: Record<string, unknown>) => new Map(Object.entries(o).map(([k, value]) => [k, { value }]));
const STORIES_KV = {
  'general.architecture': 'llama',
  'llama.context_length': 2048,
  'llama.embedding_length': 64,
  'llama.feed_forward_length': 172,
  'llama.attention.head_count': 8,
  'llama.attention.head_count_kv': 4,
  'llama.block_count': 5,
  'llama.rope.dimension_count': 8,
  'llama.attention.layer_norm_rms_epsilon': Math.fround(1e-5),
  'tokenizer.ggml.tokens': Array.from({ length: 512 }, (_, i) => `t${i}`),
  'tokenizer.ggml.bos_token_id': 1,
  'tokenizer.ggml.eos_token_id': 2,
  'tokenizer.ggml.padding_token_id': 4294967295,
};

describe('configFromGgufKv', () => {
  it('reads the stories260K metadata (vocab from the token list, defaults for rope)', () => {
    const c = configFromGgufKv(kv(STORIES_KV), 'stories260K.gguf', ['token_embd.weight', 'output.weight', 'blk.0.attn_q.weight']);
    expect(c).toEqual({
      architecture: 'llama', vocabSize: 512, hiddenSize: 64, intermediateSize: 172, numLayers: 5, numHeads: 8, numKvHeads: 4, headDim: 8,
      ropeTheta: 10000, ropeScaling: { type: 'none' }, rmsNormEps: Math.fround(1e-5), tieWordEmbeddings: false, qkvBias: false, oBias: false,
      mlpBias: false, bosTokenId: 1, eosTokenIds: [2], maxPositions: 2048, slidingWindow: null,
    });
  });
  it('qwen2 keys, bigint values, eot ids, tied output, rope_freqs and linear scaling', () => {
    const q = configFromGgufKv(
      kv({
        'general.architecture': 'qwen2', 'qwen2.context_length': 32768n, 'qwen2.embedding_length': 896, 'qwen2.feed_forward_length': [4864, 4864],
        'qwen2.attention.head_count': 14, 'qwen2.attention.head_count_kv': 2, 'qwen2.block_count': 24, 'qwen2.rope.freq_base': 1e6,
        'qwen2.attention.layer_norm_rms_epsilon': 1e-6, 'qwen2.vocab_size': 151936, 'tokenizer.ggml.eos_token_id': 151645,
        'tokenizer.ggml.eot_token_id': 151645, 'tokenizer.ggml.eom_token_id': 151643,
      }),
      'q.gguf',
      ['token_embd.weight'],
    );
    expect(q).toMatchObject({ architecture: 'qwen2', qkvBias: true, tieWordEmbeddings: true, eosTokenIds: [151645, 151643], maxPositions: 32768 });
    expect(parameterCount(q)).toBe(494_032_768);
    expect(configFromGgufKv(kv(STORIES_KV), 'x', ['rope_freqs.weight']).ropeScaling).toEqual({ type: 'freq_factors' });
    const lin = configFromGgufKv(kv({ ...STORIES_KV, 'llama.rope.scaling.type': 'linear', 'llama.rope.scaling.factor': 2 }), 'x');
    expect(lin.ropeScaling).toEqual({ type: 'linear', factor: 2 });
  });
  it('errors name the key and file', () => {
    const bad = (o: Record<string, unknown>) => () => configFromGgufKv(kv({ ...STORIES_KV, ...o }), 'm.gguf');
    expect(bad({ 'general.architecture': 'gpt2' })).toThrow(/m\.gguf: unsupported general\.architecture "gpt2"; supported: llama, qwen2/);
    expect(bad({ 'llama.block_count': undefined })).toThrow(/key llama\.block_count is missing/);
    expect(bad({ 'llama.attention.layer_norm_rms_epsilon': undefined })).toThrow(ConfigError);
    expect(bad({ 'llama.attention.head_count_kv': 3 })).toThrow(/numKvHeads \(3\) does not divide numHeads \(8\)/);
    expect(bad({ 'llama.feed_forward_length': [172, 344] })).toThrow(UnsupportedError);
    expect(bad({ 'llama.rope.dimension_count': 4 })).toThrow(/partial rotary/);
    expect(bad({ 'llama.rope.scaling.type': 'yarn' })).toThrow(UnsupportedError);
    expect(bad({ 'tokenizer.ggml.tokens': undefined })).toThrow(/llama\.vocab_size is missing/);
  });
});
