// LlamaConfig of the newer families (src/arch/families.ts) from inline
// config.json values and GGUF metadata: published hyper-parameters (the
// Hugging Face config.json of each checkpoint), the feature fields each family
// turns on, parameter counts by hand, and the refusal of an unknown family
// listing every supported one.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/base/errors.ts';
import { configFromGgufKv, configFromHf, parameterCount } from '../../src/arch/config.ts';
import { SUPPORTED_GGUF_ARCHITECTURES, SUPPORTED_HF_MODEL_TYPES } from '../../src/arch/families.ts';
import { configKv } from '../../src/export/convert/config_kv.ts';
import { ggufToHf, hfToGguf } from '../../src/arch/names.ts';

const kv = (o: Record<string, unknown>) => new Map(Object.entries(o).filter(([, v]) => v !== undefined).map(([k, v]) => [k, { value: v }]));

// Qwen/Qwen3-0.6B config.json.
const QWEN3_06B = {
  architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 28,
  num_attention_heads: 16, num_key_value_heads: 8, head_dim: 128, vocab_size: 151936, max_position_embeddings: 40960, rms_norm_eps: 1e-6,
  rope_theta: 1000000, rope_scaling: null, attention_bias: false, use_sliding_window: false, sliding_window: null, max_window_layers: 28,
  tie_word_embeddings: true, bos_token_id: 151643, eos_token_id: 151645, hidden_act: 'silu',
};

describe('Qwen3', () => {
  it('config.json: explicit head_dim 128 ≠ hidden/heads 64, q/k norms, no biases, 0.6B parameters', () => {
    const c = configFromHf(QWEN3_06B, 'qwen3.json');
    expect(c).toMatchObject({ architecture: 'qwen3', headDim: 128, numKvHeads: 8, qkNorm: true, qkvBias: false, oBias: false, tieWordEmbeddings: true, slidingWindow: null });
    // Embedding 151936·1024 + 28 × (attention 6,291,456 + MLP 9,437,184 + norms 2·1024 + q/k norms 2·128) + final norm 1024
    // = 596,049,920 (the model card's "0.44B non-embedding" is 440,467,456).
    expect(parameterCount(c)).toBe(596_049_920);
  });
  it('GGUF metadata: key_length gives head_dim, attn_q_norm needs no permutation', () => {
    const c = configFromGgufKv(
      kv({
        'general.architecture': 'qwen3', 'qwen3.context_length': 40960, 'qwen3.embedding_length': 1024, 'qwen3.feed_forward_length': 3072,
        'qwen3.block_count': 28, 'qwen3.attention.head_count': 16, 'qwen3.attention.head_count_kv': 8, 'qwen3.attention.key_length': 128,
        'qwen3.attention.value_length': 128, 'qwen3.rope.freq_base': 1e6, 'qwen3.attention.layer_norm_rms_epsilon': 1e-6, 'qwen3.vocab_size': 151936,
      }),
      'q3.gguf',
      ['token_embd.weight', 'blk.0.attn_q_norm.weight'],
    );
    expect(c).toMatchObject({ architecture: 'qwen3', headDim: 128, qkNorm: true, qkvBias: false, tieWordEmbeddings: true });
    expect(parameterCount(c)).toBe(596_049_920);
  });
});

// HuggingFaceTB/SmolLM3-3B config.json (the fields sub4 reads).
const SMOLLM3_3B = {
  architectures: ['SmolLM3ForCausalLM'], model_type: 'smollm3', hidden_size: 2048, intermediate_size: 11008, num_hidden_layers: 36,
  num_attention_heads: 16, num_key_value_heads: 4, vocab_size: 128256, max_position_embeddings: 65536, rms_norm_eps: 1e-6, rope_theta: 5000000,
  tie_word_embeddings: true, use_sliding_window: false, sliding_window: null, attention_bias: false, mlp_bias: false, hidden_act: 'silu',
  bos_token_id: 128000, eos_token_id: 128012,
  no_rope_layers: Array.from({ length: 36 }, (_, l) => ((l + 1) % 4 === 0 ? 0 : 1)),
};

describe('SmolLM3', () => {
  it('config.json: NoPE layers from no_rope_layers (0 = NoPE), tied, 3.08B parameters', () => {
    const c = configFromHf(SMOLLM3_3B, 'smollm3.json');
    expect(c).toMatchObject({ architecture: 'smollm3', headDim: 128, numKvHeads: 4, tieWordEmbeddings: true, ropeTheta: 5e6, slidingWindow: null });
    expect(c.noRopeLayers).toEqual([3, 7, 11, 15, 19, 23, 27, 31, 35]);
    expect(c.qkNorm).toBeUndefined();
    // 128256·2048 + 36 × (attention 10,485,760 + MLP 67,633,152 + norms 4,096) + 2048 = 3,075,098,624 ("3B").
    expect(parameterCount(c)).toBe(3_075_098_624);
  });
  it('config.json without the list: the interval rule (default 4, or no_rope_layer_interval); a bad list is refused', () => {
    const { no_rope_layers: _, ...noList } = SMOLLM3_3B;
    expect(configFromHf({ ...noList, num_hidden_layers: 8 }, 'x').noRopeLayers).toEqual([3, 7]);
    expect(configFromHf({ ...noList, num_hidden_layers: 8, no_rope_layer_interval: 2 }, 'x').noRopeLayers).toEqual([1, 3, 5, 7]);
    expect(() => configFromHf({ ...SMOLLM3_3B, no_rope_layers: [1, 0] }, 's.json')).toThrow(/s\.json: field "no_rope_layers" must list 0 or 1 for each of the 36 layers/);
  });
  it('GGUF metadata: llama.cpp\'s fixed interval 4', () => {
    const c = configFromGgufKv(
      kv({
        'general.architecture': 'smollm3', 'smollm3.context_length': 65536, 'smollm3.embedding_length': 2048, 'smollm3.feed_forward_length': 11008,
        'smollm3.block_count': 8, 'smollm3.attention.head_count': 16, 'smollm3.attention.head_count_kv': 4, 'smollm3.rope.freq_base': 5e6,
        'smollm3.attention.layer_norm_rms_epsilon': 1e-6, 'smollm3.vocab_size': 128256,
      }),
      's3.gguf',
      ['token_embd.weight'],
    );
    expect(c).toMatchObject({ architecture: 'smollm3', noRopeLayers: [3, 7], tieWordEmbeddings: true });
    // GGUF cannot record another layout: the converter refuses it rather than write a file llama.cpp misreads.
    expect(configKv(c, 'n', 'out.gguf').find(([k]) => k === 'general.architecture')?.[1].value).toBe('smollm3');
    expect(() => configKv({ ...c, noRopeLayers: [1, 3, 5, 7] }, 'n', 'out.gguf')).toThrow(/out\.gguf: NoPE layers \[1, 3, 5, 7\] differ from the \[3, 7\]/);
  });
});

// google/gemma-3-270m config.json (the fields sub4 reads).
const GEMMA3_270M = {
  architectures: ['Gemma3ForCausalLM'], model_type: 'gemma3_text', hidden_size: 640, intermediate_size: 2048, num_hidden_layers: 18,
  num_attention_heads: 4, num_key_value_heads: 1, head_dim: 256, vocab_size: 262144, max_position_embeddings: 32768, query_pre_attn_scalar: 256,
  sliding_window: 512, rope_theta: 1000000, rope_local_base_freq: 10000, rms_norm_eps: 1e-6, hidden_activation: 'gelu_pytorch_tanh',
  final_logit_softcapping: null, attn_logit_softcapping: null, bos_token_id: 2, eos_token_id: 1,
  layer_types: Array.from({ length: 18 }, (_, l) => ((l + 1) % 6 === 0 ? 'full_attention' : 'sliding_attention')),
};

describe('Gemma 3', () => {
  it('config.json (gemma3_text): features, sliding pattern, two RoPE bases, tied by default, 268M parameters', () => {
    const c = configFromHf(GEMMA3_270M, 'gemma3.json');
    expect(c).toMatchObject({
      architecture: 'gemma3', headDim: 256, numKvHeads: 1, tieWordEmbeddings: true, ropeTheta: 1e6, ropeThetaLocal: 10000, slidingWindow: 512,
      slidingPattern: 6, qkNorm: true, sandwichNorms: true, mlpActivation: 'gelu_tanh', embedScale: Math.fround(Math.sqrt(640)),
    });
    // 262144·640 + 18 × (attention 1,638,400 + MLP 3,932,160 + four norms 2,560 + q/k norms 512) + 640 = 268,098,176 ("270M").
    expect(parameterCount(c)).toBe(268_098_176);
  });
  it('a multimodal config nests the text model under text_config', () => {
    const mm = { architectures: ['Gemma3ForConditionalGeneration'], model_type: 'gemma3', text_config: { ...GEMMA3_270M, architectures: undefined }, vision_config: {} };
    expect(configFromHf(mm, 'mm.json')).toMatchObject({ architecture: 'gemma3', hiddenSize: 640, slidingPattern: 6 });
  });
  it('refuses what neither sub4 nor llama.cpp runs, naming the field', () => {
    expect(() => configFromHf({ ...GEMMA3_270M, query_pre_attn_scalar: 168 }, 'g.json')).toThrow(/g\.json: query_pre_attn_scalar 168 ≠ head_dim 256/);
    expect(() => configFromHf({ ...GEMMA3_270M, final_logit_softcapping: 30 }, 'g.json')).toThrow(/final_logit_softcapping 30: logit soft-capping/);
    expect(() => configFromHf({ ...GEMMA3_270M, layer_types: GEMMA3_270M.layer_types.map(() => 'full_attention') }, 'g.json')).toThrow(/layer_types differ/);
    expect(() => configFromHf({ ...GEMMA3_270M, hidden_activation: 'silu' }, 'g.json')).toThrow(/hidden_act "silu": gemma3 runs gelu_pytorch_tanh only/);
  });
  it('GGUF metadata: sliding_window with llama.cpp\'s pattern 6 and local base 10000; configKv writes it back', () => {
    const meta = {
      'general.architecture': 'gemma3', 'gemma3.context_length': 32768, 'gemma3.embedding_length': 640, 'gemma3.feed_forward_length': 2048,
      'gemma3.block_count': 18, 'gemma3.attention.head_count': 4, 'gemma3.attention.head_count_kv': 1, 'gemma3.attention.key_length': 256,
      'gemma3.attention.value_length': 256, 'gemma3.rope.freq_base': 1e6, 'gemma3.attention.layer_norm_rms_epsilon': 1e-6,
      'gemma3.attention.sliding_window': 512, 'gemma3.vocab_size': 262144,
    };
    const c = configFromGgufKv(kv(meta), 'g3.gguf', ['token_embd.weight']);
    expect(c).toMatchObject({ slidingWindow: 512, slidingPattern: 6, ropeThetaLocal: 10000, sandwichNorms: true, tieWordEmbeddings: true });
    expect(parameterCount(c)).toBe(268_098_176);
    expect(configKv(c, 'n', 'o.gguf').find(([k]) => k === 'gemma3.attention.sliding_window')?.[1].value).toBe(512);
    expect(() => configKv({ ...c, ropeThetaLocal: 5e4 }, 'n', 'o.gguf')).toThrow(/o\.gguf: sliding pattern 6 with local RoPE base 50000/);
    expect(configFromGgufKv(kv({ ...meta, 'gemma3.attention.sliding_window': undefined }), 'g3.gguf').slidingWindow).toBeNull();
  });
});

describe('tensor names of the families that differ from the Llama table', () => {
  it("Gemma 3's output norms and its MLP input norm; Qwen3's q/k norms", () => {
    const pairs: [string, string][] = [
      ['model.layers.2.post_attention_layernorm.weight', 'blk.2.post_attention_norm.weight'],
      ['model.layers.2.pre_feedforward_layernorm.weight', 'blk.2.ffn_norm.weight'],
      ['model.layers.2.post_feedforward_layernorm.weight', 'blk.2.post_ffw_norm.weight'],
      ['model.layers.2.self_attn.q_norm.weight', 'blk.2.attn_q_norm.weight'],
    ];
    for (const [hf, gguf] of pairs) {
      expect(hfToGguf(hf, 'gemma3')).toBe(gguf);
      expect(ggufToHf(gguf, 'gemma3')).toBe(hf);
    }
    expect(hfToGguf('model.layers.2.post_attention_layernorm.weight')).toBe('blk.2.ffn_norm.weight');
    expect(ggufToHf('blk.2.ffn_norm.weight', 'qwen3')).toBe('model.layers.2.post_attention_layernorm.weight');
    expect(hfToGguf('model.layers.0.self_attn.k_norm.weight', 'qwen3')).toBe('blk.0.attn_k_norm.weight');
  });
});

describe('unknown architectures are refused with the supported list', () => {
  it('config.json and GGUF', () => {
    expect(() => configFromHf({ ...QWEN3_06B, model_type: 'phi3', architectures: ['Phi3ForCausalLM'] }, 'phi.json')).toThrow(
      new RegExp(`phi\\.json: unsupported model_type "phi3".*supported model_type: ${SUPPORTED_HF_MODEL_TYPES.join(', ')}`),
    );
    expect(() => configFromGgufKv(kv({ 'general.architecture': 'phi3' }), 'phi.gguf')).toThrow(ConfigError);
    expect(() => configFromGgufKv(kv({ 'general.architecture': 'phi3' }), 'phi.gguf')).toThrow(`supported: ${SUPPORTED_GGUF_ARCHITECTURES.join(', ')}`);
    expect(SUPPORTED_GGUF_ARCHITECTURES).toContain('qwen3');
  });
});
