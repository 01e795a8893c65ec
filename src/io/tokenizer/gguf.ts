// Tokenizers from GGUF metadata (tokenizer.ggml.*): "llama" (SentencePiece-style,
// spm.ts) and "gpt2" (byte-level BPE, bpe.ts), with llama.cpp's BOS, space-prefix
// and special-token rules (llama_vocab::impl::load and ::tokenize, src/llama-vocab.cpp).
// Decoding follows Hugging Face: one leading space (the SentencePiece prefix) is dropped
// from the text, and text is never "cleaned" (" ." stays " .").
import { TokenizerError } from '../../base/errors.ts';
import { BpeModel, readMerges } from './bpe.ts';
import { compileChatTemplate } from './chat_template.ts';
import { ATTR, GgufVocab, KvReader, partitionSpecials, type KvMap } from './gguf_vocab.ts';
import { preTokenizerFor } from './pretokenize.ts';
import { spmTokenize } from './spm.ts';
import { wellFormed, type DecodeOptions, type EncodeOptions, type Tokenizer } from './types.ts';
import { CHAR_TO_BYTE, fromUtf8, utf8 } from './unicode.ts';

export type { KvMap } from './gguf_vocab.ts';

/** Bytes a token stands for when decoded (llama.cpp token_to_piece with special=true). */
function pieces(v: GgufVocab, bpe: boolean): Uint8Array[] {
  return v.texts.map((text, id) => {
    const attr = v.attrs[id];
    if (attr & (ATTR.UNKNOWN | ATTR.CONTROL | ATTR.USER_DEFINED)) return utf8(text);
    if (attr & ATTR.NORMAL) {
      if (!bpe) return utf8(text.replaceAll('▁', ' '));
      const bytes: number[] = [];
      for (const ch of text) {
        const b = CHAR_TO_BYTE.get(ch);
        if (b !== undefined) bytes.push(b);
        else bytes.push(...utf8(ch)); // not a byte character: keep the character itself
      }
      return new Uint8Array(bytes);
    }
    if (attr & ATTR.BYTE) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
      return m ? new Uint8Array([parseInt(m[1], 16)]) : utf8(text);
    }
    return new Uint8Array(0); // unused / undefined tokens decode to nothing, as in llama.cpp
  });
}

export function tokenizerFromGguf(kv: KvMap, fileName: string): Tokenizer {
  const r = new KvReader(kv, fileName);
  const model = r.string('tokenizer.ggml.model') ?? r.fail('tokenizer.ggml.model', 'is missing (this GGUF has no tokenizer)');
  if (model !== 'llama' && model !== 'gpt2')
    throw new TokenizerError(fileName, `tokenizer model "${model}" (tokenizer.ggml.model) is not supported; supported: llama, gpt2`);
  const spm = model === 'llama';

  // llama.cpp's per-model defaults for the special ids, before the file's own keys.
  const v = new GgufVocab(r, spm ? { bos: 1, eos: 2, unk: 0 } : { bos: 11, eos: 11, unk: null });
  const pre = spm ? undefined : preTokenizerFor(r.string('tokenizer.ggml.pre'), fileName);
  const bpe = pre ? new BpeModel(v, readMerges(r), pre) : undefined;
  const addSpacePrefix = r.bool('tokenizer.ggml.add_space_prefix') ?? spm;
  const addBosDefault = (r.bool('tokenizer.ggml.add_bos_token') ?? (spm || pre!.addBos)) && v.bos !== null;
  const piece = pieces(v, !spm);

  const template = r.string('tokenizer.chat_template');
  const special: Record<string, string> = {};
  if (v.bos !== null) special.bos_token = v.texts[v.bos];
  if (v.eos !== null) special.eos_token = v.texts[v.eos];
  if (v.unk !== null) special.unk_token = v.texts[v.unk];
  const chat = template === undefined ? undefined : compileChatTemplate(template, fileName, special);

  return {
    kind: spm ? 'gguf-llama' : 'gguf-gpt2',
    vocabSize: v.size,
    bosId: v.bos,
    eosIds: v.eog,
    addBosDefault,
    encode(text: string, options: EncodeOptions = {}): number[] {
      const out: number[] = [];
      if ((options.addBos ?? addBosDefault) && v.bos !== null) out.push(v.bos);
      let prevSpecial = true; // SPM: a space is prefixed to text at the start and after a special token
      for (const f of partitionSpecials(v, wellFormed(text), options.parseSpecial ?? true)) {
        if (typeof f === 'number') {
          out.push(f);
          prevSpecial = true;
        } else if (bpe) {
          bpe.tokenize(f, out);
        } else {
          spmTokenize(v, ((addSpacePrefix && prevSpecial ? ' ' : '') + f).replaceAll(' ', '▁'), out, fileName);
          prevSpecial = false;
        }
      }
      return out;
    },
    decode(ids: readonly number[], options: DecodeOptions = {}): string {
      const parts: Uint8Array[] = [];
      let total = 0;
      let first = true;
      for (const id of ids) {
        if (!Number.isInteger(id) || id < 0 || id >= v.size) throw new TokenizerError(fileName, `cannot decode id ${id}: outside 0..${v.size - 1}`);
        if (options.skipSpecial && v.attrs[id] & (ATTR.CONTROL | ATTR.UNKNOWN)) continue;
        let p = piece[id];
        // The SentencePiece space prefix: drop one leading space of the decoded text.
        if (first && addSpacePrefix && p.length > 0 && p[0] === 0x20) p = p.subarray(1);
        if (piece[id].length > 0) first = false;
        parts.push(p);
        total += p.length;
      }
      const all = new Uint8Array(total);
      let at = 0;
      for (const p of parts) {
        all.set(p, at);
        at += p.length;
      }
      return fromUtf8(all);
    },
    tokenText: (id: number) => v.texts[id],
    ...(chat ? { applyChatTemplate: chat } : {}),
  };
}
