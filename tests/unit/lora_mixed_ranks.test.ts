// LoRA sets whose matrices have their own ranks (a `--budget` plan's, LoraFactor.rank):
// the llama.cpp adapter writes each pair at its rank (llama.cpp reads the rank from
// lora_b's shape and scales by alpha / rank per tensor; the end-to-end check against
// llama.cpp is tests/cli/tune_budget_ranks.test.ts), PEFT lists the differing
// modules in rank_pattern with tensors at their rank (and sub4's PEFT reader takes them back), mlx-lm (one rank per adapter)
// refuses the set, and the checker holds each factor to its own rank.
import { describe, expect, it } from 'vitest';
import { writeGgufLoraAdapter } from '../../src/export/gguf_lora.ts';
import { checkLoraSet } from '../../src/export/lora_check.ts';
import { writeMlxAdapter } from '../../src/export/mlx.ts';
import { peftAdapterConfig, writePeftAdapter } from '../../src/export/peft.ts';
import { readPeftAdapter } from '../../src/io/lora/peft_read.ts';
import { ExportError } from '../../src/export/target.ts';
import { factorRank, mixedRanks, type LoraSet } from '../../src/io/lora/set.ts';
import { readGguf, readTensorF32 } from '../../src/io/gguf/reader.ts';
import { MemorySink } from '../../src/io/gguf/writer.ts';
import { bytesSource } from '../../src/io/source.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { configFromHf } from '../../src/arch/config.ts';
import { memoryTarget } from '../helpers/export_target.ts';
import { readSafetensorsFile } from '../helpers/mlx_reader.ts';

const HF = { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 64, intermediate_size: 172, num_hidden_layers: 2, num_attention_heads: 8, num_key_value_heads: 4, vocab_size: 512, max_position_embeddings: 512, rms_norm_eps: 1e-5 };
const llama = configFromHf(HF, 'config.json');

/** Rank 4 on layer 0 q (the set's), 8 on layer 0 down, 2 on layer 1 v; every other matrix rank 0 (absent). */
function mixed(): LoraSet {
  const f = (layer: number, role: 'q' | 'down' | 'v', inF: number, outF: number, r: number, seed: number) => ({
    layer, role, inFeatures: inF, outFeatures: outF, a: randomF32(r * inF, seed), b: randomF32(outF * r, seed + 1), ...(r !== 4 ? { rank: r } : {}),
  });
  return { rank: 4, alpha: 8, factors: [f(0, 'q', 64, 64, 4, 1), f(0, 'down', 172, 64, 8, 3), f(1, 'v', 64, 32, 2, 5)] };
}

describe('LoRA sets with per-matrix ranks', () => {
  it('factorRank and mixedRanks', () => {
    const s = mixed();
    expect(s.factors.map((f) => factorRank(s, f))).toEqual([4, 8, 2]);
    expect(mixedRanks(s)).toBe(true);
    expect(mixedRanks({ ...s, factors: [s.factors[0]] })).toBe(false);
  });

  it('the checker holds each factor to its own rank', () => {
    const s = mixed();
    expect(() => checkLoraSet(s, 'test')).not.toThrow();
    s.factors[1] = { ...s.factors[1], rank: 6 };
    expect(() => checkLoraSet(s, 'test')).toThrow(/layer 0 down: A holds 1376 values, \[6, 172\] needs 1032/);
  });

  it('llama.cpp adapter: each pair at its rank, the bytes as given', async () => {
    const s = mixed();
    const sink = new MemorySink();
    await writeGgufLoraAdapter(sink, s, llama);
    const g = await readGguf(bytesSource(sink.bytes(), 'adapter.gguf'));
    const names = ['blk.0.attn_q.weight', 'blk.0.ffn_down.weight', 'blk.1.attn_v.weight'];
    expect(g.tensors.map((t) => t.name)).toEqual(names.flatMap((n) => [`${n}.lora_a`, `${n}.lora_b`]));
    for (const [i, n] of names.entries()) {
      const f = s.factors[i];
      const a = g.tensors.find((t) => t.name === `${n}.lora_a`)!;
      const b = g.tensors.find((t) => t.name === `${n}.lora_b`)!;
      expect(a.ne.map(Number)).toEqual([f.inFeatures, factorRank(s, f)]);
      expect(b.ne.map(Number)).toEqual([factorRank(s, f), f.outFeatures]);
      expect(await readTensorF32(g, a)).toEqual(f.a);
    }
  });

  it('PEFT: rank_pattern names the modules off the set rank; tensors at their rank', async () => {
    const s = mixed();
    const cfg = peftAdapterConfig(s, { baseModel: 'org/base' });
    expect(cfg.r).toBe(4);
    expect(cfg.lora_alpha).toBe(8);
    expect(cfg.rank_pattern).toEqual({ 'model.layers.0.mlp.down_proj': 8, 'model.layers.1.self_attn.v_proj': 2 });
    const t = memoryTarget();
    await writePeftAdapter(t, s, { baseModel: 'org/base' });
    const { tensors } = readSafetensorsFile(t.files.get('adapter_model.safetensors')!);
    expect(tensors.get('base_model.model.model.layers.0.mlp.down_proj.lora_A.weight')!.shape).toEqual([8, 172]);
    expect(tensors.get('base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight')!.shape).toEqual([32, 2]);
    expect(tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!.shape).toEqual([4, 64]);
    // sub4's reader takes rank_pattern back: the same ranks and factors (`sub4 eval --lora` on the folder).
    const back = await readPeftAdapter({ config: t.text('adapter_config.json'), weights: bytesSource(t.files.get('adapter_model.safetensors')!, 'adapter_model.safetensors') }, 'peft');
    expect(back.factors.map((f) => factorRank(back, f))).toEqual([4, 8, 2]);
    expect(back.factors.map((f) => f.b)).toEqual(s.factors.map((f) => f.b));
  });

  it('mlx-lm adapter (one rank): refused, naming the formats that hold mixed ranks', async () => {
    const t = memoryTarget();
    const err = await writeMlxAdapter(t, mixed(), 2, 'org/base').catch((e) => e);
    expect(err).toBeInstanceOf(ExportError);
    expect((err as Error).message).toMatch(/more than one rank.*gguf-lora, peft or merged/);
    expect(t.files.size).toBe(0);
  });
});
