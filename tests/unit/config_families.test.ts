// LlamaConfig of the newer families (src/arch/families.ts) from inline
// config.json values and GGUF metadata: published hyper-parameters (the
// Hugging Face config.json of each checkpoint), the feature fields each family
// turns on, parameter counts by hand, and the refusal of an unknown family
// listing every supported one.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/base/errors.ts';
import { configFromGgufKv, configFromHf, parameterCount } from '../../src/arch/config.ts';
import { SUPPORTED_GGUF_ARCHITECTURES, SUPPORTED_HF_MODEL_TYPES } from '../../src/arch/families.ts';

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
