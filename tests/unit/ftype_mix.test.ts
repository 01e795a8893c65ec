// llama-quantize's per-tensor type choice (src/export/convert/ftype_mix.ts):
// the types of llama.cpp's own random-llama-256 files, and rules of
// llama_tensor_get_type_impl / tensor_type_fallback (docs formats-2 §1.5) on
// synthetic shapes for the i-quant file types.
import { describe, expect, it } from 'vitest';
import { loadImportance } from '../../src/cli/convert_imatrix.ts';
import { convertToGguf, ImatrixNeededError } from '../../src/export/convert/convert.ts';
import { MemorySink } from '../../src/io/gguf/writer.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { planTensorTypes, resolveTypeChoice, tensorRequiresImatrix, type MixModel, type MixTensor } from '../../src/export/convert/ftype_mix.ts';
import { readGguf, readTensorBytes } from '../../src/io/gguf/reader.ts';
import { bytesSource } from '../../src/io/source.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { GgmlType, ggmlTypeName } from '../../src/quant/formats.ts';
import { fixture } from '../helpers/fixtures.ts';

/** llama_model_loader's weight_name_comparer: blocks by number (non-block first), then by name. */
function llamaOrder<T extends { name: string }>(ts: T[]): T[] {
  const layer = (n: string) => Number(/^blk\.(\d+)\./.exec(n)?.[1] ?? -1);
  return [...ts].sort((a, b) => layer(a.name) - layer(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function plan(tensors: MixTensor[], type: string, model: MixModel, opts: { pure?: boolean; hasImatrix?: boolean } = {}): Map<string, string> {
  const choice = resolveTypeChoice(type, opts.pure);
  if (!choice) throw new Error(`unknown type ${type}`);
  const ordered = llamaOrder(tensors);
  const types = planTensorTypes(ordered, choice, model, { hasImatrix: opts.hasImatrix });
  return new Map(ordered.map((t, i) => [t.name, types[i] === null ? 'keep' : ggmlTypeName(types[i]!)]));
}

describe("llama.cpp's random-llama-256 files", () => {
  for (const type of ['Q2_K', 'Q3_K_M', 'Q4_K_M', 'Q5_K_M', 'Q6_K', 'Q4_0', 'Q8_0'])
    it(`${type}: the same type for every tensor as llama-quantize`, async () => {
      const [srcPath, refPath] = [fixture('models/random-llama-256/random-llama-256-F32.gguf'), fixture(`models/random-llama-256/random-llama-256-${type}.gguf`)];
      if (!srcPath || !refPath) return;
      const [s, r] = [await fileSource(srcPath), await fileSource(refPath)];
      try {
        const [src, ref] = [await readGguf(s), await readGguf(r)];
        const n = (k: string) => Number(src.kv.get(`llama.${k}`)!.value);
        const model = { arch: 'llama', nLayer: n('block_count'), nHead: n('attention.head_count'), nHeadKv: n('attention.head_count_kv') };
        const got = plan(src.tensors.map((t) => ({ name: t.name, ne: t.ne })), type, model);
        const want = new Map(ref.tensors.map((t) => [t.name, ggmlTypeName(t.type)]));
        // Tensors llama-quantize does not quantize keep their stored type (F32 in the source).
        for (const [name, t] of got) if (t === 'keep') got.set(name, 'F32');
        expect(Object.fromEntries(got)).toEqual(Object.fromEntries(want));
        expect(Number(ref.kv.get('general.file_type')!.value)).toBeGreaterThanOrEqual(0);
      } finally {
        await s.close?.();
        await r.close?.();
      }
    });
});

/** A dense Llama of `layers` blocks, hidden C, FFN F, with (untied) output unless `tied`. */
function synthetic(layers: number, C: number, F: number, kvDiv: number, tied = false): MixTensor[] {
  const ts: MixTensor[] = [
    { name: 'token_embd.weight', ne: [C, 32000] },
    { name: 'output_norm.weight', ne: [C] },
  ];
  if (!tied) ts.push({ name: 'output.weight', ne: [C, 32000] });
  for (let i = 0; i < layers; i++) {
    const b = `blk.${i}.`;
    ts.push(
      { name: `${b}attn_norm.weight`, ne: [C] },
      { name: `${b}attn_q.weight`, ne: [C, C] },
      { name: `${b}attn_k.weight`, ne: [C, C / kvDiv] },
      { name: `${b}attn_v.weight`, ne: [C, C / kvDiv] },
      { name: `${b}attn_output.weight`, ne: [C, C] },
      { name: `${b}ffn_norm.weight`, ne: [C] },
      { name: `${b}ffn_gate.weight`, ne: [C, F] },
      { name: `${b}ffn_up.weight`, ne: [C, F] },
      { name: `${b}ffn_down.weight`, ne: [F, C] },
    );
  }
  return ts;
}

describe('i-quant file type rules (formats-2 §1.5) on a synthetic 16-layer Llama', () => {
  const gqa4 = { arch: 'llama', nLayer: 16, nHead: 32, nHeadKv: 8 };
  const gqa2 = { arch: 'llama', nLayer: 16, nHead: 32, nHeadKv: 16 };
  const model = synthetic(16, 4096, 11008, 4);

  it('IQ2_M: attn_v Q4_K when n_gqa ≥ 4 (IQ3_S below), first n/8 ffn_down IQ3_S, attn_output IQ3_S, token_embd IQ3_S, output Q5_K, rest IQ2_S', () => {
    const m = plan(model, 'IQ2_M', gqa4);
    expect(m.get('blk.3.attn_v.weight')).toBe('Q4_K');
    expect(plan(model, 'IQ2_M', gqa2).get('blk.3.attn_v.weight')).toBe('IQ3_S');
    expect([0, 1, 2, 15].map((i) => m.get(`blk.${i}.ffn_down.weight`))).toEqual(['IQ3_S', 'IQ3_S', 'IQ2_S', 'IQ2_S']);
    expect(m.get('blk.7.attn_output.weight')).toBe('IQ3_S');
    expect(m.get('blk.7.attn_q.weight')).toBe('IQ2_S');
    expect(m.get('blk.7.ffn_gate.weight')).toBe('IQ2_S');
    expect(m.get('token_embd.weight')).toBe('IQ3_S');
    expect(m.get('output.weight')).toBe('Q5_K');
    expect(m.get('blk.0.attn_norm.weight')).toBe('keep');
  });

  it('IQ2_S defaults to IQ2_XS; IQ1_M: attn_output IQ2_XXS, first n/8 ffn_down Q2_K, token_embd Q2_K', () => {
    expect(plan(model, 'IQ2_S', gqa4).get('blk.9.attn_q.weight')).toBe('IQ2_XS');
    const m = plan(model, 'IQ1_M', gqa2);
    expect(m.get('blk.4.attn_output.weight')).toBe('IQ2_XXS');
    expect(m.get('blk.1.ffn_down.weight')).toBe('Q2_K');
    expect(m.get('blk.2.ffn_down.weight')).toBe('IQ1_M');
    expect(m.get('blk.4.attn_v.weight')).toBe('Q2_K');
    expect(m.get('token_embd.weight')).toBe('Q2_K');
    expect(m.get('output.weight')).toBe('Q5_K');
  });

  it('tied embeddings: token_embd follows the output rule', () => {
    expect(plan(synthetic(16, 4096, 11008, 4, true), 'IQ2_M', gqa4).get('token_embd.weight')).toBe('Q5_K');
    expect(plan(synthetic(16, 4096, 11008, 4, true), 'Q4_K_M', gqa4).get('token_embd.weight')).toBe('Q6_K');
  });

  it('IQ3_M: attn_v and attn_output Q4_K, first n/8 ffn_down Q4_K, rest IQ3_S, output Q6_K', () => {
    const m = plan(model, 'IQ3_M', gqa2);
    expect(m.get('blk.5.attn_v.weight')).toBe('Q4_K');
    expect(m.get('blk.5.attn_output.weight')).toBe('Q4_K');
    expect([1, 2].map((i) => m.get(`blk.${i}.ffn_down.weight`))).toEqual(['Q4_K', 'IQ3_S']);
    expect(m.get('blk.5.ffn_up.weight')).toBe('IQ3_S');
    expect(m.get('output.weight')).toBe('Q6_K');
  });

  it('IQ3_XS: attn_q/attn_k IQ3_XXS, ffn_gate/ffn_up IQ3_XXS only in layers [n/8, 7n/8), attn_v Q4_K with n_gqa ≥ 4', () => {
    const m = plan(model, 'IQ3_XS', gqa4);
    expect(m.get('blk.0.attn_q.weight')).toBe('IQ3_XXS');
    expect(m.get('blk.0.attn_k.weight')).toBe('IQ3_XXS');
    expect([1, 2, 13, 14].map((i) => m.get(`blk.${i}.ffn_gate.weight`))).toEqual(['IQ3_S', 'IQ3_XXS', 'IQ3_XXS', 'IQ3_S']);
    expect([1, 2, 13, 14].map((i) => m.get(`blk.${i}.ffn_up.weight`))).toEqual(['IQ3_S', 'IQ3_XXS', 'IQ3_XXS', 'IQ3_S']);
    expect(m.get('blk.0.attn_v.weight')).toBe('Q4_K');
    expect(plan(model, 'IQ3_XS', gqa2).get('blk.0.attn_v.weight')).toBe('IQ3_S');
  });

  it('IQ3_XXS and IQ4_XS depend on whether an imatrix is given', () => {
    const no = plan(model, 'IQ3_XXS', gqa2);
    const yes = plan(model, 'IQ3_XXS', gqa2, { hasImatrix: true });
    expect(no.get('blk.3.attn_v.weight')).toBe('IQ3_S');
    expect(yes.get('blk.3.attn_v.weight')).toBe('IQ3_XXS');
    expect([0, 2].map((i) => no.get(`blk.${i}.ffn_down.weight`))).toEqual(['Q4_K', 'Q3_K']);
    expect(yes.get('blk.0.ffn_down.weight')).toBe('IQ3_XXS');
    expect(no.get('blk.3.attn_q.weight')).toBe('IQ2_S');
    expect(no.get('token_embd.weight')).toBe('IQ3_S');
    expect(plan(model, 'IQ4_XS', gqa4).get('blk.0.ffn_down.weight')).toBe('Q5_K');
    expect(plan(model, 'IQ4_XS', gqa4, { hasImatrix: true }).get('blk.0.ffn_down.weight')).toBe('IQ4_XS');
    expect(plan(model, 'IQ4_NL', gqa4).get('blk.0.attn_v.weight')).toBe('Q5_K');
  });

  it('ne0 % 256 ≠ 0: 256-block i-quants fall back to IQ4_NL, then F16 when 32 does not divide either', () => {
    const m = plan(synthetic(16, 4096, 11040, 4), 'IQ2_M', gqa4); // 11040 = 345·32
    expect(m.get('blk.0.ffn_down.weight')).toBe('IQ4_NL');
    expect(m.get('blk.5.ffn_down.weight')).toBe('IQ4_NL');
    expect(m.get('blk.5.ffn_up.weight')).toBe('IQ2_S'); // ne0 = 4096
    const f = plan(synthetic(16, 4096, 11050, 4), 'IQ3_S', gqa4);
    expect(f.get('blk.5.ffn_down.weight')).toBe('F16');
    // K types: Q4_K → Q5_0, Q6_K → Q8_0
    const k = plan(synthetic(16, 4096, 11040, 4), 'Q4_K_M', gqa4);
    expect(k.get('blk.5.ffn_down.weight')).toBe('Q5_0');
    expect(k.get('blk.0.ffn_down.weight')).toBe('Q8_0'); // use_more_bits → Q6_K → Q8_0
  });

  it('pure: one type everywhere, even token_embd and output, still with the shape fallback', () => {
    const m = plan(synthetic(16, 4096, 11040, 4), 'IQ2_XXS', gqa4, { pure: true });
    expect(m.get('token_embd.weight')).toBe('IQ2_XXS');
    expect(m.get('output.weight')).toBe('IQ2_XXS');
    expect(m.get('blk.0.attn_v.weight')).toBe('IQ2_XXS');
    expect(m.get('blk.0.ffn_down.weight')).toBe('IQ4_NL');
    expect(m.get('blk.0.ffn_norm.weight')).toBe('keep');
    // a name that is only a ggml type means pure
    const q = plan(model, 'Q4_K', gqa4);
    expect(new Set([...q.values()])).toEqual(new Set(['Q4_K', 'keep']));
  });

  it('names: file type unless --pure; ggml-only names are pure; unknown names are null', () => {
    expect(resolveTypeChoice('Q2_K')).toEqual({ ftype: 'Q2_K', defaultType: GgmlType.Q2_K, pure: false });
    expect(resolveTypeChoice('IQ2_S')).toEqual({ ftype: 'IQ2_S', defaultType: GgmlType.IQ2_XS, pure: false });
    expect(resolveTypeChoice('IQ2_S', true)).toEqual({ ftype: 'IQ2_S', defaultType: GgmlType.IQ2_S, pure: true });
    expect(resolveTypeChoice('Q4_K')).toEqual({ ftype: 'Q4_K_S', defaultType: GgmlType.Q4_K, pure: true });
    expect(resolveTypeChoice('MXFP4')).toEqual({ ftype: 'MXFP4_MOE', defaultType: GgmlType.MXFP4, pure: true });
    expect(resolveTypeChoice('Q4_K_M', true)).toEqual({ ftype: 'Q4_K_M', defaultType: GgmlType.Q4_K, pure: true });
    expect(resolveTypeChoice('Q7_K')).toBeNull();
  });

  it('tensor_requires_imatrix: the very low-bit types except token_embd / output; Q2_K only in a Q2_K_S file', () => {
    expect(tensorRequiresImatrix('blk.0.attn_q.weight', GgmlType.IQ3_XXS, 'IQ3_XXS')).toBe(true);
    expect(tensorRequiresImatrix('output.weight', GgmlType.IQ2_XXS, 'IQ2_XXS')).toBe(false);
    expect(tensorRequiresImatrix('blk.0.attn_q.weight', GgmlType.Q2_K, 'Q2_K')).toBe(false);
    expect(tensorRequiresImatrix('blk.0.attn_q.weight', GgmlType.Q2_K, 'Q2_K_S')).toBe(true);
    expect(tensorRequiresImatrix('blk.0.attn_q.weight', GgmlType.IQ3_S, 'IQ3_S')).toBe(false);
  });
});

describe('convertToGguf with a file type that needs an imatrix (random-llama-256, in process)', () => {
  it('IQ2_XXS without importance: ImatrixNeededError names the first tensor, before anything is written', async () => {
    const p = fixture('models/random-llama-256/random-llama-256-F32.gguf');
    if (!p) return;
    const model = await openModelPath(p);
    const sink = new MemorySink();
    try {
      const err = await convertToGguf(model, sink, { type: 'IQ2_XXS' }).catch((e) => e);
      expect(err).toBeInstanceOf(ImatrixNeededError);
      expect(err.tensor).toBe('blk.0.attn_k.weight');
      expect(err.type).toBe('IQ2_XXS');
      expect(err.message).toMatch(/--imatrix/);
      expect(sink.length).toBe(0);
    } finally {
      await model.close();
    }
  });

  it('IQ2_XXS with the imatrix: the mix of llama-quantize, and each IQ2_XXS tensor equals llama.cpp\'s encoding with that imatrix', async () => {
    const [p, im, ref] = [fixture('models/random-llama-256/random-llama-256-F32.gguf'), fixture('models/random-llama-256/random-llama-256.imatrix.gguf'), fixture('models/random-llama-256/random-llama-256-IQ2_XXS.gguf')];
    if (!p || !im || !ref) return;
    const importance = await loadImportance(im);
    const w = importance('blk.0.attn_q.weight', 256)!;
    expect(w.length).toBe(256);
    expect(Math.min(...w)).toBeGreaterThanOrEqual(0.5); // in_sum2 = 512·U(0.5, 2), counts = 512
    expect(Math.max(...w)).toBeLessThanOrEqual(2);
    const model = await openModelPath(p);
    const sink = new MemorySink();
    try {
      const res = await convertToGguf(model, sink, { type: 'IQ2_XXS', importance });
      const types = Object.fromEntries(res.tensors.map((t) => [t.name, t.type]));
      expect(types['blk.0.attn_q.weight']).toBe('IQ2_XXS');
      expect(types['token_embd.weight']).toBe('Q2_K');
      expect(types['output.weight']).toBe('Q5_K');
      const out = await readGguf(bytesSource(sink.bytes(), 'out.gguf'));
      const want = await readGguf(await fileSource(ref));
      const iq = out.tensors.filter((t) => t.type === GgmlType.IQ2_XXS);
      expect(iq.length).toBeGreaterThan(0);
      for (const t of iq) {
        const r = want.tensors.find((x) => x.name === t.name)!;
        const [a, b] = [await readTensorBytes(out, t), await readTensorBytes(want, r)];
        expect(a.findIndex((x, i) => x !== b[i]), `${t.name}: first differing byte`).toBe(-1);
      }
    } finally {
      await model.close();
    }
  });
});
