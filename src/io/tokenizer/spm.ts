// SentencePiece-style tokenization of GGUF "llama" vocabularies, following the
// semantics of llama.cpp's llm_tokenizer_spm_session (src/llama-vocab.cpp): start
// from single characters, repeatedly merge the adjacent pair whose concatenation
// is the vocabulary token with the highest score (ties: leftmost first), then emit
// each final piece, or its UTF-8 bytes as <0xXX> tokens when it is not a token.
import { TokenizerError } from '../../base/errors.ts';
import type { GgufVocab } from './gguf_vocab.ts';
import { Heap } from './heap.ts';
import { utf8 } from './unicode.ts';

interface Bigram {
  left: number;
  right: number;
  score: number;
  /** Length of left+right when queued; a different length now means one side has merged since. */
  len: number;
}

const byHighScoreThenLeft = (a: Bigram, b: Bigram) => a.score > b.score || (a.score === b.score && a.left < b.left);

/** Token for one byte: <0xXX>, else the byte as a one-character token, else <unk>. */
export function byteToken(v: GgufVocab, byte: number, file: string): number {
  const hex = byte.toString(16).toUpperCase().padStart(2, '0');
  const id = v.ids.get(`<0x${hex}>`) ?? (byte < 0x80 ? v.ids.get(String.fromCharCode(byte)) : undefined) ?? v.unk;
  if (id === null || id === undefined) throw new TokenizerError(file, `vocabulary has no byte token <0x${hex}> and no unknown token`);
  return id;
}

/** Appends the tokens of `text` (spaces already escaped to "▁") to `out`. */
export function spmTokenize(v: GgufVocab, text: string, out: number[], file: string): void {
  const sym = Array.from(text); // one symbol per code point, like llama.cpp's UTF-8 character split
  const n = sym.length;
  if (n === 0) return;
  const prev = Array.from({ length: n }, (_, i) => i - 1);
  const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
  const queue = new Heap<Bigram>(byHighScoreThenLeft);

  const tryAdd = (left: number, right: number) => {
    if (left < 0 || right < 0) return;
    const id = v.ids.get(sym[left] + sym[right]);
    if (id === undefined) return;
    queue.push({ left, right, score: v.scores[id], len: sym[left].length + sym[right].length });
  };

  for (let i = 1; i < n; i++) tryAdd(i - 1, i);
  while (queue.size > 0) {
    const b = queue.pop()!;
    const l = sym[b.left];
    const r = sym[b.right];
    if (l === '' || r === '' || l.length + r.length !== b.len) continue;
    sym[b.left] = l + r;
    sym[b.right] = '';
    next[b.left] = next[b.right];
    if (next[b.right] >= 0) prev[next[b.right]] = b.left;
    tryAdd(prev[b.left], b.left);
    tryAdd(b.left, next[b.left]);
  }

  for (let i = 0; i !== -1; i = next[i]) {
    const id = v.ids.get(sym[i]);
    if (id !== undefined) out.push(id);
    else for (const byte of utf8(sym[i])) out.push(byteToken(v, byte, file));
  }
}
