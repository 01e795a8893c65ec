// Tokenizers from Hugging Face files: tokenizer.json (+ tokenizer_config.json,
// optionally generation_config.json), given as their text or parsed JSON. Encoding
// and decoding are @huggingface/tokenizers (pure JS, no network, no cache: it only
// sees the objects passed here); the chat template is rendered by chat_template.ts.
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { TokenizerError } from '../../base/errors.ts';
import { compileChatTemplate, pickChatTemplate, type ChatTemplateFn } from './chat_template.ts';
import { wellFormed, type DecodeOptions, type EncodeOptions, type Tokenizer } from './types.ts';

export interface HfTokenizerFiles {
  /** tokenizer.json: its text or parsed object. */
  tokenizerJson: string | object;
  /** tokenizer_config.json (special tokens, add_bos_token, chat_template). */
  tokenizerConfig?: string | object;
  /** generation_config.json: its eos_token_id list extends eosIds. */
  generationConfig?: string | object;
  /** Folder or model name for error messages. */
  name?: string;
}

type Json = Record<string, unknown>;

function parseJson(raw: string | object | undefined, file: string): Json | undefined {
  if (raw === undefined) return undefined;
  let v: unknown = raw;
  if (typeof raw === 'string') {
    try {
      v = JSON.parse(raw);
    } catch (e) {
      throw new TokenizerError(file, `not valid JSON: ${(e as Error).message}`);
    }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TokenizerError(file, 'must hold a JSON object');
  return v as Json;
}

/** A special token in tokenizer_config.json is a string or an AddedToken object {content: ...}. */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

/** Whether a post_processor (possibly nested in a Sequence) is a template starting with `bos`. */
function templatePrependsBos(pp: unknown, bos: string): boolean {
  if (typeof pp !== 'object' || pp === null) return false;
  const p = pp as Json;
  if (p.type === 'Sequence' && Array.isArray(p.processors)) return p.processors.some((q) => templatePrependsBos(q, bos));
  if (p.type !== 'TemplateProcessing' || !Array.isArray(p.single)) return false;
  const first = p.single[0] as { SpecialToken?: { id?: unknown } } | undefined;
  return first?.SpecialToken?.id === bos;
}

export function tokenizerFromHf(files: HfTokenizerFiles): Tokenizer {
  const dir = files.name ? `${files.name}/` : '';
  const tjFile = `${dir}tokenizer.json`;
  const tcFile = `${dir}tokenizer_config.json`;
  const tj = parseJson(files.tokenizerJson, tjFile)!;
  const tc = parseJson(files.tokenizerConfig, tcFile) ?? {};
  const gc = parseJson(files.generationConfig, `${dir}generation_config.json`) ?? {};

  const model = tj.model as Json | undefined;
  if (typeof model !== 'object' || model === null || typeof model.type !== 'string')
    throw new TokenizerError(tjFile, 'has no "model" object with a "type" (is this a tokenizer.json?)');
  if (typeof model.vocab !== 'object' || model.vocab === null) throw new TokenizerError(tjFile, `model (${model.type}) has no vocab`);
  if (tj.added_tokens !== undefined && !Array.isArray(tj.added_tokens)) throw new TokenizerError(tjFile, '"added_tokens" must be a list');

  let tok: HfTokenizer;
  try {
    tok = new HfTokenizer(tj, tc);
  } catch (e) {
    throw new TokenizerError(tjFile, `cannot be loaded: ${(e as Error).message}`);
  }

  const vocab = tok.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) if (id > maxId) maxId = id;
  if (maxId < 0) throw new TokenizerError(tjFile, 'vocabulary is empty');
  const vocabSize = maxId + 1;

  const idOf = (field: string): number | null => {
    const text = tokenString(tc[field]);
    if (text === undefined) return null;
    const id = tok.token_to_id(text);
    if (id === undefined) throw new TokenizerError(tcFile, `${field} "${text}" is not in the vocabulary of ${tjFile}`);
    return id;
  };
  const bosId = idOf('bos_token');
  const eos = idOf('eos_token');
  const eosIds = new Set<number>(eos === null ? [] : [eos]);
  const genEos = gc.eos_token_id;
  for (const id of Array.isArray(genEos) ? genEos : genEos === undefined ? [] : [genEos]) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
      throw new TokenizerError(`${dir}generation_config.json`, `eos_token_id ${String(id)} is not a token id below ${vocabSize}`);
    eosIds.add(id);
  }

  const bosText = tokenString(tc.bos_token);
  const addBosDefault =
    bosId !== null && (typeof tc.add_bos_token === 'boolean' ? tc.add_bos_token : bosText !== undefined && templatePrependsBos(tj.post_processor, bosText));

  const special: Record<string, string> = {};
  for (const k of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
    const s = tokenString(tc[k]);
    if (s !== undefined) special[k] = s;
  }
  const template = pickChatTemplate(tc.chat_template, tcFile);
  const chat: ChatTemplateFn | undefined = template === undefined ? undefined : compileChatTemplate(template, tcFile, special);

  return {
    kind: 'hf',
    vocabSize,
    bosId,
    eosIds: [...eosIds],
    addBosDefault,
    encode(text: string, options: EncodeOptions = {}): number[] {
      if (options.parseSpecial === false)
        throw new TokenizerError(tjFile, 'parseSpecial=false is not supported for Hugging Face tokenizers (they always split added tokens)');
      const ids = tok.encode(wellFormed(text), { add_special_tokens: false }).ids;
      return (options.addBos ?? addBosDefault) && bosId !== null ? [bosId, ...ids] : ids;
    },
    decode(ids: readonly number[], options: DecodeOptions = {}): string {
      for (const id of ids)
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new TokenizerError(tjFile, `cannot decode id ${id}: outside 0..${vocabSize - 1}`);
      if (ids.length === 0) return ''; // tokenizers.js rejects an empty list
      // clean_up_tokenization_spaces off: decode stays the exact inverse of encode.
      return tok.decode([...ids], { skip_special_tokens: options.skipSpecial ?? false, clean_up_tokenization_spaces: false });
    },
    tokenText: (id: number) => tok.id_to_token(id),
    ...(chat ? { applyChatTemplate: chat } : {}),
  };
}
