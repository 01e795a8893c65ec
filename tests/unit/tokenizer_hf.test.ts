// Hugging Face tokenizers (tokenizer.json + tokenizer_config.json, loaded from memory):
// (b) they tokenize like llama.cpp does from the GGUF of the same vocabulary; (c) the
// SmolLM2 and TinyLlama files load, round-trip the 200 strings and render their chat
// templates; and SmolLM2's vocabulary written as GGUF metadata tokenizes identically
// through the GGUF "gpt2" path, through llama.cpp, and through tokenizer.json.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { TokenizerError } from '../../src/base/errors.ts';
import { readGguf } from '../../src/io/gguf/reader.ts';
import { GgufValueType as T, type GgufKv } from '../../src/io/gguf/types.ts';
import { MemorySink, writeGguf } from '../../src/io/gguf/writer.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { tokenizerFromGguf } from '../../src/io/tokenizer/gguf.ts';
import { tokenizerFromHf } from '../../src/io/tokenizer/hf.ts';
import { wellFormed, type Tokenizer } from '../../src/io/tokenizer/types.ts';
import { fixture } from '../helpers/fixtures.ts';
import { refModel, refTokenize } from '../helpers/llamacpp.ts';
import { compareTokenizations, plainTestStrings, tokenizerTestStrings } from '../helpers/tokenizer_strings.ts';

const STRINGS = tokenizerTestStrings();

function hfFolder(rel: string): { tok: Tokenizer; json: Record<string, unknown> } | null {
  const dir = fixture(rel);
  if (!dir) return null;
  const text = readFileSync(join(dir, 'tokenizer.json'), 'utf8');
  const tok = tokenizerFromHf({ tokenizerJson: text, tokenizerConfig: readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'), name: rel });
  return { tok, json: JSON.parse(text) };
}

async function ggufKv(path: string): Promise<Map<string, GgufKv>> {
  const src = await fileSource(path);
  try {
    return (await readGguf(src)).kv;
  } finally {
    await src.close?.();
  }
}

// (b): the same vocabulary as tokenizer.json and as GGUF. stories260K's tokenizer.json was
// derived from its GGUF; TinyLlama's is the Llama 2 tokenizer that ggml-vocab-llama-spm.gguf holds.
describe.each([
  ['models/stories260K', 'models/stories260K.gguf'],
  ['tokenizers/TinyLlama-1.1B-Chat-v1.0', 'tokenizers/llama.cpp-vocab/ggml-vocab-llama-spm.gguf'],
])('%s tokenizer.json', (dir, gguf) => {
  test(`tokenizes like llama.cpp on ${gguf}`, async (ctx) => {
    const hf = hfFolder(dir);
    const path = fixture(gguf);
    if (!hf || !path) return ctx.skip();
    expect(hf.tok).toMatchObject({ kind: 'hf', bosId: 1, eosIds: [2], addBosDefault: true });
    const m = await refModel(path, { vocabOnly: true });
    if (!m) return ctx.skip();
    // HF always splits added tokens out of the text, i.e. llama.cpp with parse_special.
    for (const addBos of [false, true]) {
      const label = `${dir}/tokenizer.json vs llama.cpp ${gguf} addBos=${addBos}`;
      const bad = compareTokenizations(label, STRINGS, (s) => hf.tok.encode(s, { addBos }), (s) => refTokenize(m, s, { addBos, parseSpecial: true }));
      expect(bad, label).toBe(0);
    }
    expect(() => hf.tok.encode('x', { parseSpecial: false })).toThrow(TokenizerError);
  });
});

describe('SmolLM2-135M-Instruct', () => {
  const rel = 'tokenizers/SmolLM2-135M-Instruct';

  test('loads, round-trips the strings and renders the <|im_start|> chat format', (ctx) => {
    const hf = hfFolder(rel);
    if (!hf) return ctx.skip();
    const { tok } = hf;
    expect(tok).toMatchObject({ kind: 'hf', vocabSize: 49152, bosId: 1, eosIds: [2], addBosDefault: false });
    let n = 0;
    for (const s of plainTestStrings()) {
      expect(tok.decode(tok.encode(s)), JSON.stringify(s)).toBe(wellFormed(s));
      n++;
    }
    console.log(`${rel}: ${n} strings round-tripped`);

    const turns = [
      { role: 'user', content: 'What is 2+2?' },
      { role: 'assistant', content: 'It is 4.' },
    ];
    const system = '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n';
    const chat = system + '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\nIt is 4.<|im_end|>\n';
    expect(tok.applyChatTemplate!(turns, { addGenerationPrompt: false })).toBe(chat);
    expect(tok.applyChatTemplate!(turns, { addGenerationPrompt: true })).toBe(chat + '<|im_start|>assistant\n');
    const own = tok.applyChatTemplate!([{ role: 'system', content: 'Be brief.' }, turns[0]], { addGenerationPrompt: true });
    expect(own).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n');
    // The rendered markers encode to the special ids, not to their spelling.
    const ids = tok.encode(chat);
    expect(ids.filter((i) => i === 1).length).toBe(3);
    expect(ids.filter((i) => i === 2).length).toBe(3);
    expect(tok.decode(ids)).toBe(chat);
    expect(tok.decode(ids, { skipSpecial: true })).not.toContain('<|im_start|>');
  });

  test('as GGUF metadata (pre "smollm"), the gpt2 path and llama.cpp tokenize like tokenizer.json', async (ctx) => {
    const hf = hfFolder(rel);
    const base = fixture('tokenizers/llama.cpp-vocab/ggml-vocab-gpt-2.gguf');
    if (!hf || !base) return ctx.skip();
    const kv = await smolAsGguf(hf.json, await ggufKv(base));
    const ours = tokenizerFromGguf(kv, 'SmolLM2.gguf');
    expect(ours).toMatchObject({ kind: 'gguf-gpt2', vocabSize: 49152, bosId: 1, addBosDefault: false });
    expect(compareTokenizations('SmolLM2 GGUF gpt2 path vs tokenizer.json', STRINGS, (s) => ours.encode(s), (s) => hf.tok.encode(s))).toBe(0);
    for (const s of plainTestStrings()) expect(ours.decode(ours.encode(s)), JSON.stringify(s)).toBe(wellFormed(s));

    // The same metadata in a vocab-only GGUF file, tokenized by llama.cpp.
    const dir = mkdtempSync(join(tmpdir(), 'sub4-tok-'));
    try {
      const sink = new MemorySink();
      await writeGguf(sink, kv, [], () => new Uint8Array(0), 'SmolLM2.gguf');
      const file = join(dir, 'smollm2-vocab.gguf');
      writeFileSync(file, sink.bytes());
      const m = await refModel(file, { vocabOnly: true });
      if (!m) return ctx.skip();
      const bad = compareTokenizations('SmolLM2 GGUF gpt2 path vs llama.cpp', STRINGS, (s) => ours.encode(s), (s) => refTokenize(m, s, { parseSpecial: true }));
      expect(bad).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * SmolLM2's tokenizer.json as llama.cpp's converter writes it (convert_hf_to_gguf.py, gpt2
 * vocab): tokens by id, special added tokens CONTROL, other added USER_DEFINED, merges as
 * "a b" strings, pre "smollm"; the architecture keys come from a gpt-2 vocab-only GGUF.
 */
async function smolAsGguf(json: Record<string, unknown>, base: Map<string, GgufKv>): Promise<Map<string, GgufKv>> {
  const model = json.model as { vocab: Record<string, number>; merges: (string | [string, string])[] };
  const added = json.added_tokens as { id: number; content: string; special: boolean }[];
  const tokens: string[] = [];
  for (const [t, id] of Object.entries(model.vocab)) tokens[id] = t;
  const types = new Int32Array(tokens.length).fill(1);
  for (const a of added) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? 3 : 4;
  }
  const kv = new Map<string, GgufKv>();
  for (const [k, v] of base) if (!k.startsWith('tokenizer.')) kv.set(k, v);
  const str = (value: string): GgufKv => ({ type: T.STRING, value });
  const u32 = (value: number): GgufKv => ({ type: T.UINT32, value });
  kv.set('tokenizer.ggml.model', str('gpt2'));
  kv.set('tokenizer.ggml.pre', str('smollm'));
  kv.set('tokenizer.ggml.tokens', { type: T.ARRAY, arrayType: T.STRING, value: tokens });
  kv.set('tokenizer.ggml.token_type', { type: T.ARRAY, arrayType: T.INT32, value: types });
  const merges = model.merges.map((m) => (typeof m === 'string' ? m : m.join(' ')));
  kv.set('tokenizer.ggml.merges', { type: T.ARRAY, arrayType: T.STRING, value: merges });
  kv.set('tokenizer.ggml.bos_token_id', u32(1));
  kv.set('tokenizer.ggml.eos_token_id', u32(2));
  kv.set('tokenizer.ggml.unknown_token_id', u32(0));
  kv.set('tokenizer.ggml.add_bos_token', { type: T.BOOL, value: false });
  return kv;
}

describe('TinyLlama-1.1B-Chat-v1.0', () => {
  test('round-trips the strings and renders its <|user|> chat format', (ctx) => {
    const hf = hfFolder('tokenizers/TinyLlama-1.1B-Chat-v1.0');
    if (!hf) return ctx.skip();
    const { tok } = hf;
    expect(tok.vocabSize).toBe(32000);
    let n = 0;
    for (const s of plainTestStrings()) {
      // SentencePiece writes spaces as "▁", so a literal "▁" comes back as a space.
      expect(tok.decode(tok.encode(s, { addBos: false })), JSON.stringify(s)).toBe(wellFormed(s).replaceAll('▁', ' '));
      n++;
    }
    console.log(`TinyLlama: ${n} strings round-tripped`);
    const msgs = [
      { role: 'system', content: 'You are a pirate.' },
      { role: 'user', content: 'Hello!' },
      { role: 'assistant', content: 'Arr.' },
    ];
    expect(tok.applyChatTemplate!(msgs, { addGenerationPrompt: false })).toBe('<|system|>\nYou are a pirate.</s>\n<|user|>\nHello!</s>\n<|assistant|>\nArr.</s>\n');
    expect(tok.applyChatTemplate!(msgs.slice(0, 2), { addGenerationPrompt: true })).toBe('<|system|>\nYou are a pirate.</s>\n<|user|>\nHello!</s>\n<|assistant|>\n');
  });
});
