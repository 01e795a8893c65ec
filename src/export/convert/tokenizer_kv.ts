// tokenizer.json (+ tokenizer_config.json) → GGUF tokenizer.ggml.* metadata, as
// llama.cpp's convert_hf_to_gguf.py would write it, with one improvement:
//  - SentencePiece-style BPE with byte fallback (Llama 2, TinyLlama, stories) →
//    model "llama". llama.cpp's LlamaHfVocab writes every score as −1000, which
//    leaves llama.cpp's SPM merge order to chance; sub4 writes score = −rank of
//    the merge that creates the piece, so llama.cpp merges in the same order as
//    the BPE merges and tokenizes like tokenizer.json.
//  - byte-level BPE (GPT-2 style: SmolLM, Llama 3, Qwen2) → model "gpt2" with
//    merges and a `tokenizer.ggml.pre` chosen from the pre-tokenizer's shape.
import { GgufValueType as T, type GgufKv } from '../../io/gguf/types.ts';
import { TokenizerError } from '../../base/errors.ts';

// llama_token_type
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const USER_DEFINED = 4;
const BYTE = 6;

type Json = Record<string, unknown>;

const str = (v: string): GgufKv => ({ type: T.STRING, value: v });
const u32 = (v: number): GgufKv => ({ type: T.UINT32, value: v });
const bool = (v: boolean): GgufKv => ({ type: T.BOOL, value: v });

function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

function mergePairs(merges: unknown, file: string): [string, string][] {
  if (!Array.isArray(merges)) throw new TokenizerError(file, 'model.merges must be an array');
  return merges.map((m, i) => {
    const pair = typeof m === 'string' ? m.split(' ') : m;
    if (!Array.isArray(pair) || pair.length !== 2 || pair.some((p) => typeof p !== 'string')) throw new TokenizerError(file, `model.merges[${i}] is not a pair of strings`);
    return pair as [string, string];
  });
}

/** Which llama.cpp pre-tokenizer a byte-level tokenizer.json corresponds to (by its pre_tokenizer shape). */
function detectPre(tj: Json, file: string): string {
  const text = JSON.stringify(tj.pre_tokenizer ?? null);
  if (text.includes('"Digits"') && text.includes('"individual_digits":true') && text.includes('ByteLevel')) return 'smollm';
  if (text.includes('\\\\p{N}{1,3}')) return 'llama-bpe';
  if (text.includes('\\\\p{N}') && text.includes('"Split"')) return 'qwen2';
  if (text.includes('"ByteLevel"') && !text.includes('"Split"')) return 'gpt-2';
  throw new TokenizerError(file, `byte-level tokenizer with a pre-tokenizer sub4 cannot map to llama.cpp's (tokenizer.ggml.pre): ${text.slice(0, 200)}`);
}

export function tokenizerKv(tokenizerJson: Json, tokenizerConfig: Json | undefined, file: string): [string, GgufKv][] {
  const model = tokenizerJson.model as Json | undefined;
  if (!model || model.type !== 'BPE' || typeof model.vocab !== 'object' || model.vocab === null)
    throw new TokenizerError(file, `only BPE tokenizers can be written to GGUF (model.type is ${JSON.stringify(model?.type)})`);
  const vocab = model.vocab as Record<string, number>;
  const added = Array.isArray(tokenizerJson.added_tokens) ? (tokenizerJson.added_tokens as Json[]) : [];
  const n = Math.max(Object.keys(vocab).length, ...Object.values(vocab).map((i) => i + 1), ...added.map((a) => (a.id as number) + 1));
  const tokens: (string | undefined)[] = new Array(n);
  for (const [t, id] of Object.entries(vocab)) tokens[id] = t;
  const types = new Int32Array(n).fill(NORMAL);
  for (const a of added) {
    tokens[a.id as number] = a.content as string;
    types[a.id as number] = a.special ? CONTROL : USER_DEFINED;
  }
  const missing = tokens.findIndex((t) => t === undefined);
  if (missing >= 0) throw new TokenizerError(file, `token id ${missing} has no text (ids must be contiguous)`);
  const merges = mergePairs(model.merges ?? [], file);
  const tc = tokenizerConfig ?? {};
  const idOf = (key: string) => {
    const t = tokenContent(tc[key]);
    const id = t === undefined ? undefined : (vocab[t] ?? (added.find((a) => a.content === t)?.id as number | undefined));
    return id;
  };
  const kv: [string, GgufKv][] = [];
  const spm = model.byte_fallback === true;
  if (spm) {
    kv.push(['tokenizer.ggml.model', str('llama')], ['tokenizer.ggml.pre', str('default')]);
    const scores = new Float32Array(n);
    merges.forEach(([a, b], rank) => {
      const id = vocab[a + b];
      if (id !== undefined && scores[id] === 0) scores[id] = -(rank + 1);
    });
    // Pieces no merge creates (single characters, bytes, specials) score below every merge result.
    for (let i = 0; i < n; i++) if (scores[i] === 0) scores[i] = -(merges.length + 1);
    for (let i = 0; i < n; i++) if (/^<0x[0-9A-Fa-f]{2}>$/.test(tokens[i]!)) types[i] = BYTE;
    const unk = typeof model.unk_token === 'string' ? vocab[model.unk_token] : undefined;
    if (unk !== undefined) types[unk] = UNKNOWN;
    kv.push(['tokenizer.ggml.tokens', { type: T.ARRAY, arrayType: T.STRING, value: tokens as string[] }]);
    kv.push(['tokenizer.ggml.scores', { type: T.ARRAY, arrayType: T.FLOAT32, value: scores }]);
    kv.push(['tokenizer.ggml.token_type', { type: T.ARRAY, arrayType: T.INT32, value: types }]);
    if (unk !== undefined) kv.push(['tokenizer.ggml.unknown_token_id', u32(unk)]);
  } else {
    kv.push(['tokenizer.ggml.model', str('gpt2')], ['tokenizer.ggml.pre', str(detectPre(tokenizerJson, file))]);
    kv.push(['tokenizer.ggml.tokens', { type: T.ARRAY, arrayType: T.STRING, value: tokens as string[] }]);
    kv.push(['tokenizer.ggml.token_type', { type: T.ARRAY, arrayType: T.INT32, value: types }]);
    kv.push(['tokenizer.ggml.merges', { type: T.ARRAY, arrayType: T.STRING, value: merges.map(([a, b]) => `${a} ${b}`) }]);
  }
  const bos = idOf('bos_token');
  const eos = idOf('eos_token');
  const pad = idOf('pad_token');
  if (bos !== undefined) kv.push(['tokenizer.ggml.bos_token_id', u32(bos)]);
  if (eos !== undefined) kv.push(['tokenizer.ggml.eos_token_id', u32(eos)]);
  if (pad !== undefined) kv.push(['tokenizer.ggml.padding_token_id', u32(pad)]);
  if (typeof tc.add_bos_token === 'boolean') kv.push(['tokenizer.ggml.add_bos_token', bool(tc.add_bos_token)]);
  if (typeof tc.add_eos_token === 'boolean') kv.push(['tokenizer.ggml.add_eos_token', bool(tc.add_eos_token)]);
  if (typeof tc.chat_template === 'string') kv.push(['tokenizer.chat_template', str(tc.chat_template)]);
  return kv;
}
