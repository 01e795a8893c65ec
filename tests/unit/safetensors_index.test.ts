// Sharded safetensors through model.safetensors.index.json, and opening whole
// HF folders: a generated 2-shard model in a temp dir (and its broken
// variants), plus the real stories260K folder.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, SafetensorsError, UnsupportedError } from '../../src/base/errors.ts';
import { openHfFolder } from '../../src/io/hf_folder.ts';
import { folderFromPath } from '../../src/io/hf_folder.node.ts';
import { parseShardIndex } from '../../src/io/safetensors/index.ts';
import { encodeSafetensors } from '../../src/io/safetensors/writer.ts';
import { fixture } from '../helpers/fixtures.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

// A 1-layer Llama: hidden 8, 2 heads, ffn 12, vocab 16.
const CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 8,
  intermediate_size: 12,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  vocab_size: 16,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: false,
};
const SHAPES: Record<string, number[]> = {
  'model.embed_tokens.weight': [16, 8],
  'model.layers.0.input_layernorm.weight': [8],
  'model.layers.0.self_attn.q_proj.weight': [8, 8],
  'model.layers.0.self_attn.k_proj.weight': [4, 8],
  'model.layers.0.self_attn.v_proj.weight': [4, 8],
  'model.layers.0.self_attn.o_proj.weight': [8, 8],
  'model.layers.0.post_attention_layernorm.weight': [8],
  'model.layers.0.mlp.gate_proj.weight': [12, 8],
  'model.layers.0.mlp.up_proj.weight': [12, 8],
  'model.layers.0.mlp.down_proj.weight': [8, 12],
  'model.norm.weight': [8],
  'lm_head.weight': [16, 8],
};
const NAMES = Object.keys(SHAPES);
/** Distinct deterministic values per tensor so a mix-up between tensors is visible. */
const values = (name: string) => Float32Array.from({ length: SHAPES[name].reduce((a, b) => a * b, 1) }, (_, i) => NAMES.indexOf(name) * 1000 + i);

interface Variant {
  /** Tensor names per shard file. */
  shards?: Record<string, string[]>;
  /** Edits the weight map before it is written. */
  editMap?: (m: Record<string, string>) => void;
  total?: number;
  skipFiles?: string[];
}
async function makeModel(v: Variant = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'sub4-shards-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(CONFIG));
  const shards = v.shards ?? { 'model-00001-of-00002.safetensors': NAMES.slice(0, 6), 'model-00002-of-00002.safetensors': NAMES.slice(6) };
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (const [file, names] of Object.entries(shards)) {
    for (const n of names) (weightMap[n] = file), (total += values(n).byteLength);
    if (v.skipFiles?.includes(file)) continue;
    const bytes = await encodeSafetensors(names.map((n) => ({ name: n, dtype: 'F32' as const, shape: SHAPES[n], data: values(n) })), { metadata: { format: 'pt' } });
    writeFileSync(join(dir, file), bytes);
  }
  v.editMap?.(weightMap);
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: v.total ?? total }, weight_map: weightMap }));
  return dir;
}

const openErr = (dir: string) => openHfFolder(folderFromPath(dir)).then(() => null, (e: unknown) => e as Error);

describe('sharded safetensors', () => {
  it('opens a 2-shard model as one store with every tensor intact', async () => {
    const m = await openHfFolder(folderFromPath(await makeModel()));
    try {
      expect(m.weightFiles).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
      expect([...m.weights.tensors.keys()]).toEqual(NAMES);
      expect(m.weights.warnings).toEqual([]);
      expect(m.weights.tensors.get('model.norm.weight')!.file).toBe('model-00002-of-00002.safetensors');
      for (const n of NAMES) expect(await m.weights.readTensorF32(n), n).toEqual(values(n));
      expect(await m.weights.readTensorF32('lm_head.weight', { start: 3, end: 4 })).toEqual(values('lm_head.weight').subarray(24, 32));
      expect(m.config.numKvHeads).toBe(1);
    } finally {
      await m.close();
    }
  });

  it('names the missing shard file', async () => {
    const err = await openErr(await makeModel({ skipFiles: ['model-00002-of-00002.safetensors'] }));
    expect(err).toBeInstanceOf(SafetensorsError);
    expect(err!.message).toMatch(/model\.safetensors\.index\.json: shard file\(s\) listed in weight_map not found: model-00002-of-00002\.safetensors/);
  });

  it('names the shard that really holds a misplaced tensor', async () => {
    const err = await openErr(
      await makeModel({ editMap: (m) => void (m['model.norm.weight'] = 'model-00001-of-00002.safetensors') }),
    );
    expect(err).toBeInstanceOf(SafetensorsError);
    expect(err!.message).toMatch(
      /puts tensor model\.norm\.weight in model-00001-of-00002\.safetensors, but .* does not contain it \(it is in model-00002-of-00002\.safetensors\)/,
    );
  });

  it('warns about tensors the index does not list and a wrong total_size', async () => {
    const m = await openHfFolder(folderFromPath(await makeModel({ editMap: (w) => void delete w['lm_head.weight'], total: 5 })));
    try {
      expect(m.weights.tensors.has('lm_head.weight')).toBe(false);
      expect(m.weights.warnings).toEqual([
        'model-00002-of-00002.safetensors: tensor lm_head.weight is not assigned to this file by the index; ignored',
        expect.stringMatching(/total_size is 5 but the indexed tensors hold \d+ bytes/),
      ]);
    } finally {
      await m.close();
    }
  });

  it('rejects index entries that are paths, not file names, and malformed indexes', () => {
    expect(() => parseShardIndex(JSON.stringify({ weight_map: { a: '../secret.safetensors' } }), 'idx')).toThrow(/not a plain file name/);
    expect(() => parseShardIndex(JSON.stringify({ weight_map: { a: 'sub\\x.safetensors' } }), 'idx')).toThrow(SafetensorsError);
    expect(() => parseShardIndex('{"weight_map": {}}', 'idx')).toThrow(/empty/);
    expect(() => parseShardIndex('{"weight_map": {"a": 3}}', 'idx')).toThrow(/not a file name/);
    expect(() => parseShardIndex('{"metadata": {}}', 'idx')).toThrow(/"weight_map" is missing/);
    expect(() => parseShardIndex('{"weight_map": {"a": "x"}, "metadata": {"total_size": -1}}', 'idx')).toThrow(/total_size/);
    expect(() => parseShardIndex('nope', 'idx')).toThrow(/idx: not valid JSON/);
  });
});

describe('HF folder', () => {
  it('needs config.json and safetensors weights', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sub4-folder-'));
    dirs.push(dir);
    expect(await openErr(dir)).toBeInstanceOf(ConfigError);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(CONFIG));
    expect((await openErr(dir))!.message).toMatch(/no model\.safetensors or model\.safetensors\.index\.json/);
    writeFileSync(join(dir, 'pytorch_model.bin'), 'x');
    expect(await openErr(dir)).toBeInstanceOf(UnsupportedError);
    writeFileSync(join(dir, 'config.json'), '{"model_type": ');
    expect((await openErr(dir))!.message).toMatch(/config\.json: not valid JSON/);
  });

  const STORIES = fixture('models/stories260K');
  it.skipIf(!STORIES)('opens the real stories260K folder', async () => {
    const m = await openHfFolder(folderFromPath(STORIES!));
    try {
      expect(m.weightFiles).toEqual(['model.safetensors']);
      expect(m.weights.tensors.size).toBe(47);
      expect(m.config.hiddenSize).toBe(64);
      expect(m.configJson.torch_dtype).toBe('float32');
    } finally {
      await m.close();
    }
  });
});
