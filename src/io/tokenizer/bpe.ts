// Byte-level BPE of GGUF "gpt2" vocabularies, following the semantics of llama.cpp's
// llm_tokenizer_bpe_session (src/llama-vocab.cpp): each pre-tokenized word is written
// as GPT-2 byte characters, then the adjacent pair with the lowest merge rank is merged
// (ties: leftmost first) until no listed merge applies.
import type { GgufVocab, KvReader } from './gguf_vocab.ts';
import { Heap } from './heap.ts';
import { preTokenize, type PreTokenizer } from './pretokenize.ts';
import { byteEncode, utf8 } from './unicode.ts';

interface Bigram {
  left: number;
  right: number;
  rank: number;
  /** left+right text when queued; stale if either side has merged since. */
  text: string;
}

const byLowRankThenLeft = (a: Bigram, b: Bigram) => a.rank < b.rank || (a.rank === b.rank && a.left < b.left);

/** tokenizer.ggml.merges ("a b" strings, split at the first space after position 0) → rank by pair. */
export function readMerges(r: KvReader): Map<string, number> {
  const merges = r.strings('tokenizer.ggml.merges') ?? r.fail('tokenizer.ggml.merges', 'is missing (a gpt2 tokenizer needs its BPE merges)');
  const ranks = new Map<string, number>();
  merges.forEach((m, i) => {
    const at = m.indexOf(' ', 1);
    const key = at < 0 ? '\0' : `${m.slice(0, at)}\0${m.slice(at + 1)}`;
    if (!ranks.has(key)) ranks.set(key, i); // the first listing of a pair wins, as in llama.cpp
  });
  return ranks;
}

export class BpeModel {
  constructor(
    private readonly v: GgufVocab,
    private readonly ranks: Map<string, number>,
    private readonly pre: PreTokenizer,
  ) {}

  /** Appends the tokens of one raw text fragment to `out`. */
  tokenize(text: string, out: number[]): void {
    for (const word of preTokenize(this.pre, Array.from(text))) this.word(byteEncode(word.join('')), out);
  }

  private word(word: string, out: number[]): void {
    const v = this.v;
    if (this.pre.ignoreMerges) {
      const whole = v.ids.get(word);
      if (whole !== undefined) {
        out.push(whole);
        return;
      }
    }
    const sym = Array.from(word);
    const n = sym.length;
    const prev = Array.from({ length: n }, (_, i) => i - 1);
    const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const queue = new Heap<Bigram>(byLowRankThenLeft);
    const tryAdd = (left: number, right: number) => {
      if (left < 0 || right < 0) return;
      const rank = this.ranks.get(`${sym[left]}\0${sym[right]}`);
      if (rank !== undefined) queue.push({ left, right, rank, text: sym[left] + sym[right] });
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);
    while (queue.size > 0) {
      const b = queue.pop()!;
      const l = sym[b.left];
      const r = sym[b.right];
      if (l === '' || r === '' || l + r !== b.text) continue;
      sym[b.left] = b.text;
      sym[b.right] = '';
      next[b.left] = next[b.right];
      if (next[b.right] >= 0) prev[next[b.right]] = b.left;
      tryAdd(prev[b.left], b.left);
      tryAdd(b.left, next[b.left]);
    }
    for (let i = 0; i !== -1 && n > 0; i = next[i]) {
      const id = v.ids.get(sym[i]);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // Not a token: llama.cpp looks each UTF-8 byte of the piece up as a one-byte token
      // and drops those that are not (only ASCII can match a one-byte token text).
      for (const byte of utf8(sym[i])) {
        const t = byte < 0x80 ? v.ids.get(String.fromCharCode(byte)) : undefined;
        if (t !== undefined) out.push(t);
      }
    }
  }
}
