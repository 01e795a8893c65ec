// Small hand-built vocabularies: the SPM and BPE merge orders on cases worked out by
// hand, and every malformed input (GGUF metadata, tokenizer.json, chat templates)
// giving a TokenizerError that names the file and the key.
import { describe, expect, test } from 'vitest';
import { TokenizerError } from '../../src/base/errors.ts';
import { tokenizerFromGguf } from '../../src/io/tokenizer/gguf.ts';
import { tokenizerFromHf } from '../../src/io/tokenizer/hf.ts';

type Kv = Map<string, { value: unknown }>;
const kv = (o: Record<string, unknown>): Kv => new Map(Object.entries(o).map(([k, value]) => [k, { value }]));

// A SentencePiece-style vocabulary: 3 specials, two byte tokens, pieces with scores.
const SPM_TOKENS = ['<unk>', '<s>', '</s>', '<0x7A>', '<0xC3>', '▁', 'a', 'b', 'aa', 'ab', '▁ab', '▁a'];
const SPM_TYPES = [2, 3, 3, 6, 6, 1, 1, 1, 1, 1, 1, 1];
const spm = (scores: number[], extra: Record<string, unknown> = {}) =>
  kv({
    'tokenizer.ggml.model': 'llama',
    'tokenizer.ggml.tokens': SPM_TOKENS,
    'tokenizer.ggml.scores': new Float32Array(scores),
    'tokenizer.ggml.token_type': new Int32Array(SPM_TYPES),
    ...extra,
  });
const SCORES = [0, 0, 0, 0, 0, -1, -2, -3, -5, -4, -6, -7];

describe('SPM merges (llama)', () => {
  test('the best-scoring pair merges first and byte fallback covers unknown characters', () => {
    const t = tokenizerFromGguf(spm(SCORES), 'tiny.gguf');
    const id = (s: string) => SPM_TOKENS.indexOf(s);
    // "▁aab": pairs "▁a" -7, "aa" -5, "ab" -4 → "ab" first, then "▁a" (-7) beats nothing else: ▁a + ab.
    expect(t.encode('aab', { addBos: false })).toEqual([id('▁a'), id('ab')]);
    // With "aa" scored above "ab", "aa" merges first and "▁" stays alone ("▁aa" is no token).
    const t2 = tokenizerFromGguf(spm(SCORES.map((s, i) => (i === 8 ? -3.5 : s))), 'tiny.gguf');
    expect(t2.encode('aab', { addBos: false })).toEqual([id('▁'), id('aa'), id('b')]);
    // "z" has no piece: its byte 0x7A is used; "é" (C3 A9) has only <0xC3>, so A9 falls back to <unk>.
    expect(t.encode('z', { addBos: false })).toEqual([id('▁'), id('<0x7A>')]);
    expect(t.encode('é', { addBos: false })).toEqual([id('▁'), id('<0xC3>'), 0]);
    expect(t.encode('ab')).toEqual([1, id('▁ab')]);
    expect(t.encode('<s>ab', { addBos: false })).toEqual([1, id('▁ab')]);
    expect(t.encode('', { addBos: true })).toEqual([1]);
    expect(t.decode([1, id('▁ab'), id('<0x7A>'), 2])).toBe('<s> abz</s>');
    expect(t.decode([1, id('▁ab'), 2], { skipSpecial: true })).toBe('ab');
  });

  test('add_space_prefix=false and add_bos_token=false are honoured', () => {
    const t = tokenizerFromGguf(spm(SCORES, { 'tokenizer.ggml.add_space_prefix': false, 'tokenizer.ggml.add_bos_token': false }), 'tiny.gguf');
    expect(t.addBosDefault).toBe(false);
    expect(t.encode('ab')).toEqual([SPM_TOKENS.indexOf('ab')]);
    expect(t.decode(t.encode(' ab'))).toBe(' ab');
  });

  test('bytes without a byte token become <unk>, and out-of-range ids fall back to the defaults', () => {
    const tokens = ['<unk>', '<s>', '</s>', 'a'];
    const t = tokenizerFromGguf(kv({ 'tokenizer.ggml.model': 'llama', 'tokenizer.ggml.tokens': tokens, 'tokenizer.ggml.bos_token_id': 7 }), 'nobytes.gguf');
    expect(t.bosId).toBe(1); // id 7 is outside the vocabulary: llama.cpp keeps its default
    // "▁q": neither "▁" (E2 96 81) nor "q" has a piece or a <0xXX> token.
    expect(t.encode('q', { addBos: false })).toEqual([0, 0, 0, 0]);
  });
});

describe('BPE merges (gpt2)', () => {
  // Byte-level: " " is "Ġ". Merges in rank order.
  const tokens = ['a', 'b', 'c', 'Ġ', 'ab', 'bc', 'Ġa', 'Ġab', 'abc', '<|end|>'];
  const bpe = (merges: string[], pre = 'gpt-2') =>
    tokenizerFromGguf(
      kv({
        'tokenizer.ggml.model': 'gpt2',
        'tokenizer.ggml.pre': pre,
        'tokenizer.ggml.tokens': tokens,
        'tokenizer.ggml.token_type': new Int32Array([1, 1, 1, 1, 1, 1, 1, 1, 1, 3]),
        'tokenizer.ggml.merges': merges,
        'tokenizer.ggml.eos_token_id': 9,
      }),
      'bpe.gguf',
    );
  const id = (s: string) => tokens.indexOf(s);

  test('the lowest-ranked merge applies first', () => {
    expect(bpe(['a b', 'ab c', 'b c']).encode('abc')).toEqual([id('abc')]);
    expect(bpe(['b c', 'a b', 'ab c']).encode('abc')).toEqual([id('a'), id('bc')]);
    expect(bpe(['a b', 'Ġ ab', 'Ġ a']).encode('ab ab')).toEqual([id('ab'), id('Ġab')]);
    const t = bpe(['a b']);
    expect(t).toMatchObject({ kind: 'gguf-gpt2', bosId: null, eosIds: [9], addBosDefault: false });
    expect(t.encode('ab<|end|>')).toEqual([id('ab'), 9]);
    expect(t.decode([id('ab'), id('Ġab'), 9])).toBe('ab ab<|end|>');
    expect(t.decode([id('ab'), 9], { skipSpecial: true })).toBe('ab');
  });

  test('an unsupported pre-tokenizer is named in the error', () => {
    expect(() => bpe(['a b'], 'tekken')).toThrow(TokenizerError);
    expect(() => bpe(['a b'], 'tekken')).toThrow(/bpe.gguf: pre-tokenizer "tekken" \(tokenizer.ggml.pre\) is not supported/);
  });
});

describe('malformed GGUF tokenizer metadata', () => {
  const base = { 'tokenizer.ggml.model': 'llama', 'tokenizer.ggml.tokens': ['<unk>', '<s>', '</s>'] };
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['no tokenizer', {}, /bad.gguf: metadata tokenizer.ggml.model is missing/],
    ['model not a string', { 'tokenizer.ggml.model': 3 }, /tokenizer.ggml.model must be a string, not number 3/],
    ['unknown model', { ...base, 'tokenizer.ggml.model': 't5' }, /tokenizer model "t5" .* not supported/],
    ['no tokens', { 'tokenizer.ggml.model': 'llama' }, /tokenizer.ggml.tokens is missing/],
    ['tokens not strings', { ...base, 'tokenizer.ggml.tokens': new Int32Array(3) }, /tokenizer.ggml.tokens must be an array of strings, not a Int32Array/],
    ['empty vocabulary', { ...base, 'tokenizer.ggml.tokens': [] }, /tokenizer.ggml.tokens is empty/],
    ['duplicate token', { ...base, 'tokenizer.ggml.tokens': ['a', 'b', 'a'] }, /has token "a" twice \(ids 0 and 2\)/],
    ['short scores', { ...base, 'tokenizer.ggml.scores': new Float32Array(2) }, /tokenizer.ggml.scores has 2 entries but the vocabulary has 3 tokens/],
    ['scores not numeric', { ...base, 'tokenizer.ggml.scores': ['x', 'y', 'z'] }, /tokenizer.ggml.scores must be a numeric array/],
    ['fractional token type', { ...base, 'tokenizer.ggml.token_type': new Float32Array([1, 1.5, 1]) }, /token_type entry 1 is 1.5, not an integer/],
    ['bool of wrong type', { ...base, 'tokenizer.ggml.add_bos_token': 1 }, /add_bos_token must be a bool, not number 1/],
    ['negative id', { ...base, 'tokenizer.ggml.bos_token_id': -1 }, /bos_token_id must be a non-negative integer/],
    ['gpt2 without merges', { ...base, 'tokenizer.ggml.model': 'gpt2' }, /tokenizer.ggml.merges is missing/],
    ['bad chat template', { ...base, 'tokenizer.chat_template': '{% for m in messages %}' }, /bad.gguf: chat template does not parse/],
  ];
  test.each(cases)('%s', (_name, meta, msg) => {
    const f = () => tokenizerFromGguf(kv(meta), 'bad.gguf');
    expect(f).toThrow(TokenizerError);
    expect(f).toThrow(msg);
  });

  test('decode rejects ids outside the vocabulary', () => {
    const t = tokenizerFromGguf(kv(base), 'v.gguf');
    expect(() => t.decode([3])).toThrow(/v.gguf: cannot decode id 3: outside 0..2/);
    expect(() => t.decode([1.5])).toThrow(TokenizerError);
  });

  test('a GGUF chat template renders with the vocabulary special tokens', () => {
    const t = tokenizerFromGguf(kv({ ...base, 'tokenizer.chat_template': '{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}' }), 'c.gguf');
    expect(t.applyChatTemplate!([{ role: 'user', content: 'hi' }], { addGenerationPrompt: false })).toBe('<s>[user] hi</s>');
    expect(() => t.applyChatTemplate!([{ role: 'user' } as never], { addGenerationPrompt: false })).toThrow(/c.gguf: chat message 0 needs string "role" and "content"/);
  });
});

describe('malformed Hugging Face tokenizer files', () => {
  const json = {
    model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2, '<s>': 3 }, merges: ['a b'] },
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: 'Fuse' },
    added_tokens: [{ id: 3, content: '<s>', special: true, single_word: false, lstrip: false, rstrip: false, normalized: false }],
  };
  test('a minimal BPE tokenizer.json works from memory', () => {
    const t = tokenizerFromHf({ tokenizerJson: JSON.stringify(json), tokenizerConfig: { bos_token: '<s>', add_bos_token: true } });
    expect(t).toMatchObject({ kind: 'hf', vocabSize: 4, bosId: 3, eosIds: [], addBosDefault: true });
    expect(t.encode('ab')).toEqual([3, 2]);
    expect(t.decode([])).toBe('');
    expect(t.applyChatTemplate).toBeUndefined();
  });
  const cases: [string, Parameters<typeof tokenizerFromHf>[0], RegExp][] = [
    ['invalid JSON', { tokenizerJson: '{"model":', name: 'm' }, /m\/tokenizer.json: not valid JSON/],
    ['not an object', { tokenizerJson: '[1,2]' }, /tokenizer.json: must hold a JSON object/],
    ['no model', { tokenizerJson: {} }, /tokenizer.json: has no "model" object with a "type"/],
    ['no vocab', { tokenizerJson: { model: { type: 'BPE' } } }, /model \(BPE\) has no vocab/],
    ['bos not in vocab', { tokenizerJson: json, tokenizerConfig: { bos_token: '<bos>' } }, /tokenizer_config.json: bos_token "<bos>" is not in the vocabulary/],
    ['bad template', { tokenizerJson: json, tokenizerConfig: { chat_template: '{{ messages' } }, /tokenizer_config.json: chat template does not parse/],
    ['template list', { tokenizerJson: json, tokenizerConfig: { chat_template: [{ name: 'x' }] } }, /chat_template list entries must be \{name, template\}/],
    ['bad eos in generation_config', { tokenizerJson: json, generationConfig: { eos_token_id: [2, 99] } }, /generation_config.json: eos_token_id 99 is not a token id below 4/],
  ];
  test.each(cases)('%s', (_name, files, msg) => {
    expect(() => tokenizerFromHf(files)).toThrow(TokenizerError);
    expect(() => tokenizerFromHf(files)).toThrow(msg);
  });
});
