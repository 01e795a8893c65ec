// PEFT LoRA adapter export/import (src/export/peft.ts, src/io/lora/peft_read.ts): a set
// written and read back is the same set to the bit; adapter_config.json holds
// every field of formats.md §5 and target_modules names exactly the modules
// present; and broken or unsupported adapters (bad JSON, other peft types,
// rsLoRA, DoRA, patterns, biases, truncated weights, missing halves, rank or
// shape mismatches, unknown modules, absurd layer indices, NaN) are typed errors
// naming the file. The writer refuses sets it cannot write and leaves no file.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, FormatError, SafetensorsError, UnsupportedError } from '../../src/base/errors.ts';
import { ExportError } from '../../src/export/target.ts';
import { type LoraFactor, type LoraSet } from '../../src/io/lora/set.ts';
import { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, peftKey } from '../../src/io/lora/peft_names.ts';
import { writePeftAdapter } from '../../src/export/peft.ts';
import { readPeftAdapter } from '../../src/io/lora/peft_read.ts';
import { readPeftFolder } from '../../src/io/lora/peft_read.node.ts';
import { openSafetensors } from '../../src/io/safetensors/reader.ts';
import { encodeSafetensors, type SafetensorsWriteTensor } from '../../src/io/safetensors/writer.ts';
import { bytesSource } from '../../src/io/source.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import type { LinearRole } from '../../src/arch/params.ts';
import { memoryTarget } from '../helpers/export_target.ts';

// stories260K's shapes: C 64, 4 kv heads × 8, F 172.
const SHAPES: Record<LinearRole, [number, number]> = { q: [64, 64], k: [64, 32], v: [64, 32], o: [64, 64], gate: [64, 172], up: [64, 172], down: [172, 64] };

function factor(layer: number, role: LinearRole, rank: number, seed: number): LoraFactor {
  const [inF, outF] = SHAPES[role];
  return { layer, role, inFeatures: inF, outFeatures: outF, a: randomF32(rank * inF, seed), b: randomF32(outF * rank, seed + 1) };
}

/** Layers 0 and 1 with all seven roles, layer 2 with q and down only (partial coverage). */
function sampleSet(rank = 3, alpha = 6): LoraSet {
  const roles: LinearRole[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];
  const factors = [0, 1].flatMap((l) => roles.map((r, i) => factor(l, r, rank, 100 * l + 2 * i)));
  factors.push(factor(2, 'down', rank, 900), factor(2, 'q', rank, 902));
  return { rank, alpha, factors };
}

async function written(set = sampleSet()) {
  const t = memoryTarget();
  await writePeftAdapter(t, set, { baseModel: 'sub4/stories260K' });
  return { config: t.text(PEFT_CONFIG_FILE), weights: t.files.get(PEFT_WEIGHTS_FILE)! };
}

const read = (config: string, weights: Uint8Array) => readPeftAdapter({ config, weights: bytesSource(weights, 'adapter_model.safetensors') }, 'my-adapter');

/** Safetensors bytes from (name, shape, values) triples. */
const st = (tensors: [string, number[], Float32Array | Int32Array, ('F32' | 'I32')?][]) =>
  encodeSafetensors(tensors.map(([name, shape, data, dtype]): SafetensorsWriteTensor => ({ name, shape, data, dtype: dtype ?? 'F32' })), { metadata: { format: 'pt' } });

const pair = (layer: number, role: LinearRole, rank: number, inF: number, outF: number): [string, number[], Float32Array][] => [
  [peftKey(layer, role, 'A'), [rank, inF], randomF32(rank * inF, 1)],
  [peftKey(layer, role, 'B'), [outF, rank], randomF32(outF * rank, 2)],
];

const cfg = (over: Record<string, unknown> = {}) => JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['q_proj'], ...over });

describe('PEFT adapter: write → read', () => {
  it('reads back the identical LoraSet (partial coverage, factors sorted)', async () => {
    const set = sampleSet();
    const { config, weights } = await written(set);
    const got = await read(config, weights);
    expect(got.rank).toBe(3);
    expect(got.alpha).toBe(6);
    const key = (f: LoraFactor) => `${f.layer}.${f.role}`;
    const ROLES = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];
    const order = (f: LoraFactor) => f.layer * 10 + ROLES.indexOf(f.role);
    expect(got.factors.map(key)).toEqual([...set.factors].sort((x, y) => order(x) - order(y)).map(key));
    const byKey = new Map(set.factors.map((f) => [key(f), f]));
    for (const f of got.factors) {
      const want = byKey.get(key(f))!;
      expect({ inF: f.inFeatures, outF: f.outFeatures }).toEqual({ inF: want.inFeatures, outF: want.outFeatures });
      expect(f.a).toEqual(want.a);
      expect(f.b).toEqual(want.b);
    }
  });

  it('adapter_config.json has every field of formats.md §5; the weights carry format pt and PEFT keys/shapes', async () => {
    const { config, weights } = await written();
    const c = JSON.parse(config);
    expect(c).toEqual({
      peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: 'sub4/stories260K', revision: null,
      r: 3, lora_alpha: 6, lora_dropout: 0, bias: 'none', fan_in_fan_out: false, use_rslora: false, use_dora: false,
      inference_mode: true, init_lora_weights: true, modules_to_save: null,
      target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      layers_to_transform: null, layers_pattern: null, rank_pattern: {}, alpha_pattern: {},
    });
    const f = await openSafetensors(bytesSource(weights, PEFT_WEIGHTS_FILE));
    expect(Object.fromEntries(f.metadata)).toEqual({ format: 'pt' });
    expect(f.tensors.size).toBe(2 * 16);
    expect(f.tensors.get('base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight')).toMatchObject({ dtype: 'F32', shape: [3, 64] });
    expect(f.tensors.get('base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight')).toMatchObject({ dtype: 'F32', shape: [32, 3] });
    expect(f.tensors.get('base_model.model.model.layers.2.mlp.down_proj.lora_A.weight')).toMatchObject({ shape: [3, 172] });
    expect(f.tensors.get('base_model.model.model.layers.2.mlp.down_proj.lora_B.weight')).toMatchObject({ shape: [64, 3] });
    await f.close();
  });

  it('target_modules lists only the roles present', async () => {
    const set = sampleSet();
    set.factors = set.factors.filter((f) => f.role === 'v' || f.role === 'up');
    const c = JSON.parse((await written(set)).config);
    expect(c.target_modules).toEqual(['v_proj', 'up_proj']);
  });

  it('reads F16/BF16 factors and applies PEFT defaults (r = 8, lora_alpha = 8) for absent fields', async () => {
    const a = new Uint16Array(8 * 64).fill(0x3c00); // f16 1.0
    const b = new Uint16Array(64 * 8).fill(0x3f80); // bf16 1.0
    const w = await encodeSafetensors([
      { name: peftKey(4, 'o', 'A'), dtype: 'F16', shape: [8, 64], data: a },
      { name: peftKey(4, 'o', 'B'), dtype: 'BF16', shape: [64, 8], data: b },
    ]);
    const got = await read(JSON.stringify({ peft_type: 'LORA' }), w);
    expect(got.rank).toBe(8);
    expect(got.alpha).toBe(8);
    expect(got.factors).toHaveLength(1);
    expect(got.factors[0]).toMatchObject({ layer: 4, role: 'o', inFeatures: 64, outFeatures: 64 });
    expect(got.factors[0].a.every((v) => v === 1) && got.factors[0].b.every((v) => v === 1)).toBe(true);
  });
});

describe('PEFT adapter: hostile and unsupported input', () => {
  const good = () => st(pair(0, 'q', 2, 64, 64));
  const rejects = async (config: string, weights: Uint8Array | Promise<Uint8Array>, cls: typeof FormatError, msg: RegExp) => {
    const p = read(config, await weights);
    await expect(p).rejects.toBeInstanceOf(cls);
    await expect(p).rejects.toThrow(msg);
  };

  it('config: bad JSON, not an object, no peft_type → ConfigError naming adapter_config.json', async () => {
    await rejects('{"peft_type": "LORA",', good(), ConfigError, /^my-adapter\/adapter_config\.json: is not valid JSON/);
    await rejects('[1, 2]', good(), ConfigError, /not a JSON object/);
    await rejects('{"r": 2}', good(), ConfigError, /has no peft_type/);
    await rejects(cfg({ r: 2.5 }), good(), ConfigError, /r is 2\.5, expected a positive integer/);
    await rejects(cfg({ r: 0 }), good(), ConfigError, /r is 0/);
    await rejects(cfg({ lora_alpha: 'x' }), good(), ConfigError, /lora_alpha is "x"/);
    await rejects(cfg({ use_rslora: 'yes' }), good(), ConfigError, /use_rslora is "yes", expected true or false/);
    await rejects(cfg({ rank_pattern: [] }), good(), ConfigError, /rank_pattern is \[\], expected an object/);
  });

  it('config: other adapter kinds and LoRA variants sub4 would compute differently → UnsupportedError', async () => {
    await rejects(cfg({ peft_type: 'IA3' }), good(), UnsupportedError, /peft_type is "IA3"/);
    await rejects(cfg({ use_rslora: true }), good(), UnsupportedError, /use_rslora is true: rsLoRA scales by lora_alpha\/√r/);
    // DoRA is read (tests/unit/export_dora.test.ts), but every module needs its magnitude.
    await rejects(cfg({ use_dora: true }), good(), SafetensorsError, /layer 0 self_attn\.q_proj has no lora_magnitude_vector, which use_dora needs/);
    await rejects(cfg({ rank_pattern: { q_proj: 4 } }), good(), UnsupportedError, /rank_pattern key "q_proj" is not one module.s path/);
    await rejects(cfg({ alpha_pattern: { q_proj: 4 } }), good(), UnsupportedError, /alpha_pattern/);
    await rejects(cfg({ bias: 'lora_only' }), good(), UnsupportedError, /bias is "lora_only"/);
    await rejects(cfg({ modules_to_save: ['lm_head'] }), good(), UnsupportedError, /modules_to_save/);
    await rejects(cfg({ fan_in_fan_out: true }), good(), UnsupportedError, /fan_in_fan_out/);
    await rejects(cfg({ lora_bias: true }), good(), UnsupportedError, /lora_bias/);
    // Fields with their plain-LoRA values are fine.
    await expect(read(cfg({ use_rslora: false, use_dora: false, bias: 'none', modules_to_save: [], rank_pattern: {}, alpha_pattern: {} }), await good())).resolves.toMatchObject({ rank: 2, alpha: 4 });
  });

  it('weights: truncated, empty or garbage files → SafetensorsError naming the weights file', async () => {
    const w = await good();
    await rejects(cfg(), w.subarray(0, w.length - 5), SafetensorsError, /^adapter_model\.safetensors: /);
    await rejects(cfg(), w.subarray(0, 6), SafetensorsError, /too short/);
    await rejects(cfg(), new TextEncoder().encode('not a safetensors file at all'), SafetensorsError, /adapter_model\.safetensors/);
    await rejects(cfg(), st([]), SafetensorsError, /holds no LoRA factors/);
  });

  it('weights: missing halves, rank and shape mismatches, non-finite values → SafetensorsError', async () => {
    await rejects(cfg(), st([pair(0, 'q', 2, 64, 64)[0]]), SafetensorsError, /layer 0 self_attn\.q_proj has lora_A but no lora_B/);
    await rejects(cfg(), st([pair(1, 'v', 2, 64, 32)[1]]), SafetensorsError, /has lora_B but no lora_A/);
    await rejects(cfg({ r: 4 }), good(), SafetensorsError, /lora_A\.weight: shape \[2, 64\] has rank 2, but r is 4/);
    const [a] = pair(0, 'q', 2, 64, 64);
    await rejects(cfg(), st([a, [peftKey(0, 'q', 'B'), [64, 3], randomF32(192, 3)]]), SafetensorsError, /lora_B\.weight: shape \[64, 3\] has rank 3, but r is 2/);
    await rejects(cfg(), st([a, [peftKey(0, 'q', 'B'), [2, 64, 1], randomF32(128, 3)]]), SafetensorsError, /both must be 2-D/);
    const nan = randomF32(128, 4);
    nan[77] = NaN;
    await rejects(cfg(), st([a, [peftKey(0, 'q', 'B'), [64, 2], nan]]), SafetensorsError, /a factor holds NaN at index 77/);
    await rejects(cfg(), st(pair(5000, 'q', 2, 64, 64)), SafetensorsError, /layer 5000 is beyond any model/);
  });

  it('weights: keys that are not LoRA factors of the seven linear modules → UnsupportedError', async () => {
    await rejects(cfg(), st([...pair(0, 'q', 2, 64, 64), ['base_model.model.model.embed_tokens.lora_A.weight', [2, 512], randomF32(1024, 5)]]), UnsupportedError, /embed_tokens\.lora_A\.weight: a LoRA on a module sub4 does not adapt/);
    await rejects(cfg(), st([...pair(0, 'q', 2, 64, 64), ['base_model.model.lm_head.weight', [4, 4], randomF32(16, 5)]]), UnsupportedError, /lm_head\.weight is not a LoRA factor/);
    await rejects(cfg(), st([['base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector', [64], randomF32(64, 5)]]), UnsupportedError, /is a DoRA magnitude, but use_dora is not true/);
    await rejects(cfg(), st([['base_model.model.model.layers.01.self_attn.q_proj.lora_A.weight', [2, 64], randomF32(128, 5)]]), UnsupportedError, /layers\.01/);
    await rejects(cfg(), st([[peftKey(0, 'q', 'A'), [2, 64], new Int32Array(128), 'I32'], pair(0, 'q', 2, 64, 64)[1]]), UnsupportedError, /is I32; LoRA factors must be F32, F16 or BF16/);
  });

  it('the weights source is closed whether reading succeeds or fails', async () => {
    let closed = 0;
    const src = async (config: string) => {
      const s = bytesSource(await good(), 'w.safetensors');
      await readPeftAdapter({ config, weights: { ...s, close: async () => void closed++ } }, 'x').catch(() => {});
    };
    await src(cfg());
    await src('{bad');
    await src(cfg({ r: 3 }));
    expect(closed).toBe(3);
  });
});

describe('PEFT adapter: sets the writer refuses', () => {
  const refuses = async (set: LoraSet, msg: RegExp, opts: { baseModel: string } = { baseModel: 'x' }) => {
    const t = memoryTarget();
    const p = writePeftAdapter(t, set, opts);
    await expect(p).rejects.toBeInstanceOf(ExportError);
    await expect(p).rejects.toThrow(msg);
    expect(t.files.size).toBe(0);
  };
  it('wrong factor sizes, duplicates, bad rank/alpha, NaN, empty base model', async () => {
    const s = () => sampleSet();
    await refuses({ ...s(), rank: 0 }, /rank 0 is not a positive integer/);
    await refuses({ ...s(), alpha: NaN }, /alpha NaN/);
    await refuses({ ...s(), factors: [] }, /no factors/);
    const short = s();
    short.factors[3] = { ...short.factors[3], a: short.factors[3].a.subarray(1) };
    await refuses(short, /^PEFT export: layer 0 o: A holds 191 values, \[3, 64\] needs 192/);
    const dup = s();
    dup.factors.push(dup.factors[0]);
    await refuses(dup, /layer 0 q has two factors/);
    const inf = s();
    inf.factors[1].b[5] = Infinity;
    await refuses(inf, /layer 0 k: a factor holds Infinity at index 5/);
    await refuses(s(), /baseModel/, { baseModel: '' });
  });
  it('a sink failure aborts the file and leaves nothing committed', async () => {
    const t = memoryTarget();
    const failing = { ...t, create: async (name: string) => ({ ...(await t.create(name)), write: () => Promise.reject(new Error('disk full')), abort: async () => void t.aborted.push(name) }) };
    await expect(writePeftAdapter(failing, sampleSet(), { baseModel: 'x' })).rejects.toThrow('disk full');
    expect(t.aborted).toEqual([PEFT_WEIGHTS_FILE]);
    expect(t.files.size).toBe(0);
  });
});

describe('readPeftFolder (Node)', () => {
  const root = mkdtempSync(join(tmpdir(), 'sub4-peft-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const folder = (name: string, files: Record<string, string | Uint8Array>) => {
    const dir = join(root, name);
    mkdirSync(dir);
    for (const [f, c] of Object.entries(files)) writeFileSync(join(dir, f), c);
    return dir;
  };
  it('reads an adapter folder; errors name the folder and file', async () => {
    const set = sampleSet();
    const { config, weights } = await written(set);
    const got = await readPeftFolder(folder('ok', { [PEFT_CONFIG_FILE]: config, [PEFT_WEIGHTS_FILE]: weights }));
    expect(got.factors.map((f) => f.b)).toEqual((await read(config, weights)).factors.map((f) => f.b));
    await expect(readPeftFolder(folder('noconfig', { [PEFT_WEIGHTS_FILE]: weights }))).rejects.toThrow(ConfigError);
    await expect(readPeftFolder(folder('noconfig2', { [PEFT_WEIGHTS_FILE]: weights }))).rejects.toThrow(/^noconfig2\/adapter_config\.json: not found/);
    await expect(readPeftFolder(folder('pickle', { [PEFT_CONFIG_FILE]: config, 'adapter_model.bin': 'x' }))).rejects.toThrow(UnsupportedError);
    await expect(readPeftFolder(folder('noweights', { [PEFT_CONFIG_FILE]: config }))).rejects.toThrow(/^noweights\/adapter_model\.safetensors: not found/);
    const cut = folder('truncated', { [PEFT_CONFIG_FILE]: config, [PEFT_WEIGHTS_FILE]: weights.subarray(0, 1000) });
    await expect(readPeftFolder(cut)).rejects.toThrow(/^truncated\/adapter_model\.safetensors: /);
  });
});
