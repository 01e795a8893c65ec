// llama.cpp LoRA adapter GGUF (src/export/gguf_lora.ts), read back with
// sub4's GGUF reader: the metadata llama.cpp's loader requires (formats.md §3),
// tensor names and ne, A's and B's bytes, and the q/k rule: B rows of attn_q /
// attn_k in GGUF interleaved order for Llama (k with the kv head count), as is
// for Qwen2; A never moves. The end-to-end proof that llama.cpp applies the
// file as sub4 does is tests/gpu/lora_export.test.ts.
import { describe, expect, it } from 'vitest';
import { GGUF_LORA_FILE, writeGgufLoraAdapter } from '../../src/export/gguf_lora.ts';
import { ExportError } from '../../src/export/target.ts';
import { type LoraFactor, type LoraSet } from '../../src/io/lora/set.ts';
import { readGguf, readTensorF32 } from '../../src/io/gguf/reader.ts';
import { GgmlType, GgufValueType } from '../../src/io/gguf/types.ts';
import { MemorySink } from '../../src/io/gguf/writer.ts';
import { bytesSource } from '../../src/io/source.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { configFromHf, type LlamaConfig } from '../../src/arch/config.ts';
import type { LinearRole } from '../../src/arch/params.ts';
import { memoryTarget } from '../helpers/export_target.ts';

// stories260K: C 64, 8 heads × 8, 4 kv heads, F 172, 5 layers.
const HF = { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 64, intermediate_size: 172, num_hidden_layers: 5, num_attention_heads: 8, num_key_value_heads: 4, vocab_size: 512, max_position_embeddings: 512, rms_norm_eps: 1e-5 };
const llama = configFromHf(HF, 'config.json');
const qwen = configFromHf({ ...HF, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2' }, 'config.json');
const SHAPES: Record<LinearRole, [number, number]> = { q: [64, 64], k: [64, 32], v: [64, 32], o: [64, 64], gate: [64, 172], up: [64, 172], down: [172, 64] };
const R = 2;

function set(roles: LinearRole[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], layers = [0, 4]): LoraSet {
  const factors: LoraFactor[] = layers.flatMap((layer) =>
    roles.map((role, i) => {
      const [inF, outF] = SHAPES[role];
      return { layer, role, inFeatures: inF, outFeatures: outF, a: randomF32(R * inF, 10 * layer + i), b: randomF32(outF * R, 100 + 10 * layer + i) };
    }),
  );
  return { rank: R, alpha: 5, factors };
}

async function readBack(s: LoraSet, config: LlamaConfig, opts = {}) {
  const sink = new MemorySink();
  const n = await writeGgufLoraAdapter(sink, s, config, opts);
  expect(n).toBe(sink.length);
  const f = await readGguf(bytesSource(sink.bytes(), 'adapter.gguf'));
  const tensor = async (name: string) => {
    const t = f.tensors.find((x) => x.name === name);
    if (!t) throw new Error(`no ${name}`);
    return { ne: t.ne, type: t.type, data: await readTensorF32(f, t) };
  };
  return { f, tensor };
}

/** Row r of a row-major [rows, len] array. */
const row = (x: Float32Array, r: number, len: number) => Array.from(x.subarray(r * len, (r + 1) * len));

describe('GGUF LoRA adapter', () => {
  it('writes the metadata llama.cpp requires, plus name and provenance', async () => {
    const { f } = await readBack(set(), llama, { name: 'stories260K tuned', kv: [['general.quantized_by', { type: GgufValueType.STRING, value: 'sub4' }]] });
    const kv = Object.fromEntries([...f.kv].map(([k, v]) => [k, [GgufValueType[v.type], v.value]]));
    expect(kv).toEqual({
      'general.architecture': ['STRING', 'llama'],
      'general.type': ['STRING', 'adapter'],
      'general.name': ['STRING', 'stories260K tuned'],
      'adapter.type': ['STRING', 'lora'],
      'adapter.lora.alpha': ['FLOAT32', 5],
      'general.quantized_by': ['STRING', 'sub4'],
    });
  });

  it('names tensors blk.N.<gguf>.weight.lora_a / lora_b with ne [in, r] / [r, out], F32', async () => {
    const s = set();
    const { f } = await readBack(s, llama);
    expect(f.tensors.map((t) => t.name).slice(0, 4)).toEqual(['blk.0.attn_q.weight.lora_a', 'blk.0.attn_q.weight.lora_b', 'blk.0.attn_k.weight.lora_a', 'blk.0.attn_k.weight.lora_b']);
    expect(f.tensors).toHaveLength(2 * s.factors.length);
    const byName = new Map(f.tensors.map((t) => [t.name, t]));
    const gg: Record<LinearRole, string> = { q: 'attn_q', k: 'attn_k', v: 'attn_v', o: 'attn_output', gate: 'ffn_gate', up: 'ffn_up', down: 'ffn_down' };
    for (const fc of s.factors) {
      const a = byName.get(`blk.${fc.layer}.${gg[fc.role]}.weight.lora_a`)!;
      const b = byName.get(`blk.${fc.layer}.${gg[fc.role]}.weight.lora_b`)!;
      expect([a.ne, b.ne, a.type, b.type]).toEqual([[fc.inFeatures, R], [R, fc.outFeatures], GgmlType.F32, GgmlType.F32]);
    }
  });

  it('Llama: q/k B rows move to GGUF interleaved order (k with 4 kv heads); A and other roles are as given', async () => {
    const s = set();
    const { tensor } = await readBack(s, llama);
    const D = 8, half = 4;
    for (const fc of s.factors.filter((x) => x.layer === 4)) {
      const name = { q: 'attn_q', k: 'attn_k', v: 'attn_v', o: 'attn_output', gate: 'ffn_gate', up: 'ffn_up', down: 'ffn_down' }[fc.role];
      const a = await tensor(`blk.4.${name}.weight.lora_a`);
      const b = await tensor(`blk.4.${name}.weight.lora_b`);
      expect(a.data).toEqual(fc.a);
      if (fc.role !== 'q' && fc.role !== 'k') {
        expect(b.data).toEqual(fc.b);
        continue;
      }
      expect(b.data).not.toEqual(fc.b);
      const heads = fc.outFeatures / D;
      expect(heads).toBe(fc.role === 'q' ? 8 : 4);
      // formats.md §1.5: gguf_row[h·D + 2i + j] = hf_row[h·D + j·half + i].
      for (let h = 0; h < heads; h++)
        for (let i = 0; i < half; i++)
          for (let j = 0; j < 2; j++) expect(row(b.data, h * D + 2 * i + j, R)).toEqual(row(fc.b, h * D + j * half + i, R));
    }
  });

  it('Qwen2: no permutation, architecture qwen2; Mistral is written as llama', async () => {
    const s = set(['q', 'k']);
    const { f, tensor } = await readBack(s, qwen);
    expect(f.kv.get('general.architecture')?.value).toBe('qwen2');
    expect((await tensor('blk.0.attn_q.weight.lora_b')).data).toEqual(s.factors[0].b);
    expect((await tensor('blk.0.attn_k.weight.lora_b')).data).toEqual(s.factors[1].b);
    const mistral = configFromHf({ ...HF, architectures: ['MistralForCausalLM'], model_type: 'mistral' }, 'config.json');
    const m = await readBack(s, mistral);
    expect(m.f.kv.get('general.architecture')?.value).toBe('llama');
    expect((await m.tensor('blk.0.attn_q.weight.lora_b')).data).not.toEqual(s.factors[0].b);
  });

  it('into an ExportTarget: one committed file, adapter.gguf by default', async () => {
    const t = memoryTarget();
    const n = await writeGgufLoraAdapter(t, set(), llama);
    expect([...t.files.keys()]).toEqual([GGUF_LORA_FILE]);
    expect(t.files.get(GGUF_LORA_FILE)!.length).toBe(n);
    await writeGgufLoraAdapter(t, set(), llama, { fileName: 'x-lora.gguf' });
    expect([...t.files.keys()]).toEqual([GGUF_LORA_FILE, 'x-lora.gguf']);
  });

  it('refuses sets that do not fit the model, alpha 0 and overridden format keys, writing nothing', async () => {
    const refuses = async (s: LoraSet, msg: RegExp, opts = {}) => {
      const t = memoryTarget();
      const p = writeGgufLoraAdapter(t, s, llama, opts);
      await expect(p).rejects.toBeInstanceOf(ExportError);
      await expect(p).rejects.toThrow(msg);
      expect(t.files.size + t.aborted.length).toBe(0);
    };
    await refuses(set(['q'], [5]), /^GGUF LoRA export: a factor is on layer 5, the model has 5 layers/);
    const wrong = set(['down']);
    wrong.factors[0] = { ...wrong.factors[0], inFeatures: 64, outFeatures: 172, a: new Float32Array(R * 64), b: new Float32Array(172 * R) };
    await refuses(wrong, /layer 0 down: the factors map 64 → 172 features, the model's mlp\.down_proj 172 → 64/);
    await refuses({ ...set(), alpha: 0 }, /alpha is 0/);
    await refuses(set(), /general\.type is set by the adapter format/, { kv: [['general.type', { type: GgufValueType.STRING, value: 'model' }]] });
    await refuses({ ...set(), rank: 3 }, /A holds 128 values, \[3, 64\] needs 192/);
  });
});
