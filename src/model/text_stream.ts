// Generated token ids → text deltas for streaming. Decoding the whole list each
// time keeps multi-token characters and SentencePiece's leading-space rules
// right; a delta ending in U+FFFD (an incomplete UTF-8 sequence) is held back
// until the next token completes it, and flush() gives whatever is left.
// Used by `sub4 generate` and by the studio's worker.
import type { Tokenizer } from '../io/tokenizer/types.ts';

export interface TextStream {
  /** Add a token; returns the text it makes visible ('' while a character is incomplete). */
  push(id: number): string;
  /** The text still held back (an incomplete character at the end), once generation is over. */
  flush(): string;
  /** All new text so far, held-back part included. */
  readonly text: string;
}

export function textStream(tok: Tokenizer, promptIds: readonly number[]): TextStream {
  const ids = [...promptIds];
  const base = tok.decode(ids, { skipSpecial: true });
  let shown = 0;
  let full = '';
  const take = (final: boolean): string => {
    full = tok.decode(ids, { skipSpecial: true }).slice(base.length);
    if (!final && full.endsWith('\uFFFD')) return '';
    const delta = full.slice(shown);
    shown = full.length;
    return delta;
  };
  return {
    push(id) {
      ids.push(id);
      return take(false);
    },
    flush: () => take(true),
    get text() {
      return full;
    },
  };
}
