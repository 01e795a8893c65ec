// The load benchmark's Hugging Face folder: the same TinyLlama-1.1B shape as
// bench/load_model.ts (tinyLlamaShape), written once as BF16 or F16 safetensors
// by sub4's own writer (src/io/safetensors/writer.ts) with a config.json, in
// transformers' tensor names. Weights are random halves of size about 0.004–0.03
// with random signs (finite, so a forward stays finite), norms 1; tensors are
// generated one at a time as the writer reaches them, so host memory stays at one.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors, type SafetensorsWriteTensor } from '../src/io/safetensors/writer.ts';
import { fileSink } from '../src/io/sink.node.ts';
import { tinyLlamaShape } from './load_model.ts';

export type FloatMix = 'BF16' | 'F16';

/** Random halves of one dtype: sign, an exponent of 2^-8..2^-6, any mantissa (xorshift32, two per word). */
function halves(n: number, dtype: FloatMix, seed: number): Uint16Array {
  const out = new Uint16Array(n);
  const [expShift, mantMask, e0] = dtype === 'BF16' ? [7, 0x7f, 127 - 8] : [10, 0x3ff, 15 - 8];
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s & 0x8000) | ((e0 + ((s >>> 16) % 3)) << expShift) | ((s >>> 3) & mantMask);
  }
  return out;
}

/** Writes `dir`/config.json and `dir`/model.safetensors; returns the safetensors file's size in bytes. */
export async function writeLoadFolder(dir: string, dtype: FloatMix, layers = 22): Promise<number> {
  const c = tinyLlamaShape(layers);
  const C = c.hiddenSize, F = c.intermediateSize, kv = c.numKvHeads * c.headDim;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: c.vocabSize, hidden_size: C, intermediate_size: F,
    num_hidden_layers: layers, num_attention_heads: c.numHeads, num_key_value_heads: c.numKvHeads, rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta, max_position_embeddings: c.maxPositions, tie_word_embeddings: false, hidden_act: 'silu',
    bos_token_id: 1, eos_token_id: 2, torch_dtype: dtype === 'BF16' ? 'bfloat16' : 'float16',
  }, null, 2));
  const one = dtype === 'BF16' ? 0x3f80 : 0x3c00;
  const tensors: SafetensorsWriteTensor[] = [];
  const add = (name: string, shape: number[]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const seed = 0x9e3779b9 ^ (tensors.length * 7919);
    tensors.push({ name, dtype, shape, data: () => (shape.length === 1 ? new Uint16Array(n).fill(one) : halves(n, dtype, seed)) });
  };
  add('model.embed_tokens.weight', [c.vocabSize, C]);
  add('lm_head.weight', [c.vocabSize, C]);
  add('model.norm.weight', [C]);
  for (let l = 0; l < layers; l++) {
    const b = `model.layers.${l}.`;
    add(`${b}input_layernorm.weight`, [C]);
    add(`${b}self_attn.q_proj.weight`, [C, C]);
    add(`${b}self_attn.k_proj.weight`, [kv, C]);
    add(`${b}self_attn.v_proj.weight`, [kv, C]);
    add(`${b}self_attn.o_proj.weight`, [C, C]);
    add(`${b}post_attention_layernorm.weight`, [C]);
    add(`${b}mlp.gate_proj.weight`, [F, C]);
    add(`${b}mlp.up_proj.weight`, [F, C]);
    add(`${b}mlp.down_proj.weight`, [C, F]);
  }
  const path = join(dir, 'model.safetensors');
  const sink = await fileSink(path);
  try {
    const n = await writeSafetensors(sink, tensors, { file: path });
    await sink.commit();
    return n;
  } catch (e) {
    await sink.abort();
    throw e;
  }
}
