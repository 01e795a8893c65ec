// A tiny Llama on SmolLM2-135M-Instruct's real tokenizer and chat template
// (shared/tokenizers): random weights (seeded), hidden 16, one layer, tied
// embeddings, written as a Hugging Face folder. Big enough for the tokenizer's
// 49152 ids and the template's control tokens; small enough for SwiftShader.
// Used where a test needs a chat model and only its behaviour around the
// template matters, not what it says.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rng } from '../../src/gpu/random.ts';

const C = 16;
const F = 32;
const HEADS = 2;
const KV = 1;
const V = 49152;

/** Writes the folder into a new temp directory and returns its path. */
export function writeTinyChatModel(tokenizerDir: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sub4-tiny-chat-'));
  const D = C / HEADS;
  const shapes: [string, number[]][] = [
    ['model.embed_tokens.weight', [V, C]],
    ['model.layers.0.input_layernorm.weight', [C]],
    ['model.layers.0.self_attn.q_proj.weight', [C, C]],
    ['model.layers.0.self_attn.k_proj.weight', [KV * D, C]],
    ['model.layers.0.self_attn.v_proj.weight', [KV * D, C]],
    ['model.layers.0.self_attn.o_proj.weight', [C, C]],
    ['model.layers.0.post_attention_layernorm.weight', [C]],
    ['model.layers.0.mlp.gate_proj.weight', [F, C]],
    ['model.layers.0.mlp.up_proj.weight', [F, C]],
    ['model.layers.0.mlp.down_proj.weight', [C, F]],
    ['model.norm.weight', [C]],
  ];
  const r = rng(21);
  const header: Record<string, unknown> = {};
  const parts: Float32Array[] = [];
  let offset = 0;
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const norm = name.endsWith('norm.weight');
    const data = Float32Array.from({ length: n }, () => (norm ? 1 : (r() - 0.5) * 0.2));
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + n * 4] };
    parts.push(data);
    offset += n * 4;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([head, Buffer.from(json), ...parts.map((p) => Buffer.from(p.buffer))]));
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: C,
      intermediate_size: F,
      num_hidden_layers: 1,
      num_attention_heads: HEADS,
      num_key_value_heads: KV,
      vocab_size: V,
      max_position_embeddings: 512,
      rms_norm_eps: 1e-5,
      rope_theta: 100000,
      tie_word_embeddings: true,
      bos_token_id: 1,
      eos_token_id: 2,
      torch_dtype: 'float32',
    }),
  );
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(tokenizerDir, f), join(dir, f));
  return dir;
}
