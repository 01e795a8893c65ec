// The vocabulary part of GGUF tokenizer metadata (tokenizer.ggml.*), validated
// as hostile input, with the token attributes and special-token rules of
// llama.cpp's llama_vocab::impl::load (src/llama-vocab.cpp).
import { TokenizerError } from '../../base/errors.ts';

/** llama.cpp token attributes (llama_token_attr), derived from tokenizer.ggml.token_type. */
export const ATTR = {
  UNDEFINED: 0,
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
  LSTRIP: 1 << 7,
  RSTRIP: 1 << 8,
} as const;

/** tokenizer.ggml.token_type values (llama_token_type) → attribute. */
const TYPE_TO_ATTR: Record<number, number> = { 0: ATTR.UNDEFINED, 1: ATTR.NORMAL, 2: ATTR.UNKNOWN, 3: ATTR.CONTROL, 4: ATTR.USER_DEFINED, 5: ATTR.UNUSED, 6: ATTR.BYTE };

/** Texts llama.cpp treats as end-of-generation whatever their declared type. */
const EOG_TEXTS = new Set([
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>', '<|endoftext|>', '</s>',
  '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>', '<end_of_utterance>', '<eos>', '<turn|>', '<|tool_response>',
  '<｜end▁of▁sentence｜>', '[e~[',
]);

export type KvMap = ReadonlyMap<string, { value: unknown }>;

/** Typed readers over the metadata map; every wrong shape is a TokenizerError naming the key. */
export class KvReader {
  constructor(
    readonly kv: KvMap,
    readonly file: string,
  ) {}

  fail(key: string, what: string): never {
    throw new TokenizerError(this.file, `metadata ${key} ${what}`);
  }

  has(key: string): boolean {
    return this.kv.has(key);
  }

  string(key: string): string | undefined {
    const v = this.kv.get(key)?.value;
    if (v === undefined) return undefined;
    if (typeof v !== 'string') this.fail(key, `must be a string, not ${describe(v)}`);
    return v;
  }

  bool(key: string): boolean | undefined {
    const v = this.kv.get(key)?.value;
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') this.fail(key, `must be a bool, not ${describe(v)}`);
    return v;
  }

  /** A non-negative integer scalar (GGUF u32/i32/u64...). */
  uint(key: string): number | undefined {
    const v = this.kv.get(key)?.value;
    if (v === undefined) return undefined;
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) this.fail(key, `must be a non-negative integer, not ${describe(v)}`);
    return n;
  }

  strings(key: string): readonly string[] | undefined {
    const v = this.kv.get(key)?.value;
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) this.fail(key, `must be an array of strings, not ${describe(v)}`);
    return v as string[];
  }

  /** A numeric array (typed array or number[]) of at least `min` entries. */
  numbers(key: string, min: number, integer: boolean): ArrayLike<number> | undefined {
    const v = this.kv.get(key)?.value;
    if (v === undefined) return undefined;
    const ok = ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array);
    const arr = ok ? (v as unknown as ArrayLike<number>) : Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : undefined;
    if (!arr) this.fail(key, `must be a numeric array, not ${describe(v)}`);
    if (arr.length < min) this.fail(key, `has ${arr.length} entries but the vocabulary has ${min} tokens`);
    if (integer) for (let i = 0; i < min; i++) if (!Number.isInteger(arr[i])) this.fail(key, `entry ${i} is ${arr[i]}, not an integer`);
    return arr;
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return typeof v === 'string' ? `the string "${v.slice(0, 40)}"` : `${typeof v} ${String(v).slice(0, 40)}`;
}

export interface SpecialIds {
  bos: number | null;
  eos: number | null;
  unk: number | null;
}

export class GgufVocab {
  readonly texts: readonly string[];
  readonly attrs: Uint16Array;
  readonly scores: Float32Array;
  readonly ids = new Map<string, number>();
  readonly bos: number | null;
  readonly eos: number | null;
  readonly unk: number | null;
  readonly eog: readonly number[];
  /** Tokens split out of the text before tokenizing, longest text first (llama.cpp cache_special_tokens). */
  readonly specials: readonly number[];

  constructor(r: KvReader, defaults: SpecialIds) {
    const tokens = r.strings('tokenizer.ggml.tokens') ?? r.fail('tokenizer.ggml.tokens', 'is missing (no vocabulary in this file)');
    const n = tokens.length;
    if (n === 0) r.fail('tokenizer.ggml.tokens', 'is empty');
    const scores = r.numbers('tokenizer.ggml.scores', n, false);
    const types = r.numbers('tokenizer.ggml.token_type', n, true);

    const texts: string[] = new Array(n);
    this.attrs = new Uint16Array(n);
    this.scores = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const t = tokens[i] === '' ? `[EMPTY_${i}]` : tokens[i]; // llama.cpp's stand-in for empty tokens
      if (this.ids.has(t)) r.fail('tokenizer.ggml.tokens', `has token ${JSON.stringify(t)} twice (ids ${this.ids.get(t)} and ${i})`);
      this.ids.set(t, i);
      texts[i] = t;
      if (scores) this.scores[i] = scores[i];
      this.attrs[i] = types ? (TYPE_TO_ATTR[types[i]] ?? ATTR.UNDEFINED) : ATTR.NORMAL;
    }
    this.texts = texts;

    const id = (key: string, dflt: number | null): number | null => {
      const v = r.uint(key);
      // llama.cpp ignores (with a warning) ids outside the vocabulary and keeps its default.
      if (v !== undefined && v < n) return v;
      return dflt !== null && dflt < n ? dflt : null;
    };
    this.bos = id('tokenizer.ggml.bos_token_id', defaults.bos);
    this.eos = id('tokenizer.ggml.eos_token_id', defaults.eos);
    this.unk = id('tokenizer.ggml.unknown_token_id', defaults.unk);
    const eot = id('tokenizer.ggml.eot_token_id', null);
    const eom = id('tokenizer.ggml.eom_token_id', null);

    // End-of-generation set: eos/eot/eom plus the well-known end texts, which are forced to CONTROL.
    const eog = new Set<number>();
    for (let i = 0; i < n; i++) {
      if (EOG_TEXTS.has(texts[i])) {
        eog.add(i);
        this.attrs[i] |= ATTR.CONTROL;
      }
    }
    for (const e of [this.eos, eot, eom]) if (e !== null) eog.add(e);
    this.eog = [...eog].sort((a, b) => a - b);

    const specials: number[] = [];
    for (let i = 0; i < n; i++) if (this.attrs[i] & (ATTR.CONTROL | ATTR.USER_DEFINED | ATTR.UNKNOWN)) specials.push(i);
    const byteLen = (i: number) => new TextEncoder().encode(texts[i]).length;
    this.specials = specials.map((i) => [i, byteLen(i)]).sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([i]) => i);

    // llama.cpp's per-model attribute fix-ups that change tokenization (phi-3 strips spaces after specials).
    const name = (r.string('general.name') ?? '').toLowerCase();
    if (name.includes('phi-3') || name.includes('phi3')) {
      for (const i of specials) this.attrs[i] |= ATTR.RSTRIP;
      const set = (t: string, on: boolean) => {
        const i = this.ids.get(t);
        if (i !== undefined) this.attrs[i] = on ? this.attrs[i] | ATTR.RSTRIP : this.attrs[i] & ~ATTR.RSTRIP;
      };
      set('</s>', true);
      for (const t of ['<unk>', '<s>', '<|endoftext|>']) set(t, false);
    }
  }

  get size(): number {
    return this.texts.length;
  }
}

/** A piece of input: raw text still to tokenize, or a special token already split out. */
export type Fragment = string | number;

const isAsciiSpace = (c: string) => c === ' ' || (c >= '\t' && c <= '\r');

/**
 * Splits special-token texts out of `text` (llama.cpp tokenizer_st_partition): each special
 * token, longest first, is cut out of every remaining raw fragment. Without parseSpecial only
 * user-defined tokens are split (control and unknown tokens stay plain text).
 */
export function partitionSpecials(v: GgufVocab, text: string, parseSpecial: boolean): Fragment[] {
  let frags: Fragment[] = text === '' ? [] : [text];
  for (const id of v.specials) {
    const attr = v.attrs[id];
    if (!parseSpecial && attr & (ATTR.CONTROL | ATTR.UNKNOWN)) continue;
    const needle = v.texts[id];
    const next: Fragment[] = [];
    for (const f of frags) {
      if (typeof f === 'number' || !f.includes(needle)) {
        next.push(f);
        continue;
      }
      let rest = f;
      for (;;) {
        const at = rest.indexOf(needle);
        if (at < 0) {
          if (rest !== '') next.push(rest);
          break;
        }
        let left = rest.slice(0, at);
        if (attr & ATTR.LSTRIP) while (left !== '' && isAsciiSpace(left[left.length - 1])) left = left.slice(0, -1);
        if (left !== '') next.push(left);
        next.push(id);
        rest = rest.slice(at + needle.length);
        if (attr & ATTR.RSTRIP) while (rest !== '' && isAsciiSpace(rest[0])) rest = rest.slice(1);
      }
    }
    frags = next;
  }
  return frags;
}
