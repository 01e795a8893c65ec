// Where a character offset of a rendered text falls among its tokens.
//
// The loss mask needs token indices for character positions (end of the prompt,
// end of an assistant turn). Tokenizing the pieces separately would be easy but
// changes the tokens: BPE merges across the seam, SentencePiece adds a prefix
// space to every piece. So the whole text is tokenized once, as the model will
// see it, and each boundary is found by tokenizing the prefix text[0:at]: when
// those ids are exactly the first k ids of the whole, the boundary is token k
// (the prefix and the rest tokenize independently there). When they are not,
// a merge straddles the offset; the fallback snaps to the straddling token by
// decoding growing prefixes (binary search on decoded length), and the caller
// reports the row.

export interface Boundary {
  /** Token index: tokens [0, token) lie before the offset (exact) or the straddler is resolved per `side`. */
  token: number;
  /** True when prefix tokenization agreed with the whole. */
  exact: boolean;
}

function isPrefix(prefix: readonly number[], ids: readonly number[]): boolean {
  if (prefix.length > ids.length) return false;
  for (let i = 0; i < prefix.length; i++) if (prefix[i] !== ids[i]) return false;
  return true;
}

/**
 * Token boundary of char offset `at` in `text`, whose tokens are `ids` = encode(text).
 * `side` settles a straddling token in the fallback: 'start' puts it after the
 * boundary (the token index of the straddler), 'end' before it (one past it), so a
 * span [start, end) always covers every token that holds a character of it.
 */
export function tokenBoundary(
  text: string,
  ids: readonly number[],
  at: number,
  side: 'start' | 'end',
  encode: (s: string) => number[],
  decode: (ids: readonly number[]) => string,
): Boundary {
  if (at <= 0) return { token: 0, exact: true };
  if (at >= text.length) return { token: ids.length, exact: true };
  const prefix = encode(text.slice(0, at));
  if (isPrefix(prefix, ids) && prefix.length > 0) return { token: prefix.length, exact: true };

  // Largest k whose decoded prefix is no longer than `at` characters.
  const len = (k: number) => (k === 0 ? 0 : decode(ids.slice(0, k)).length);
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (len(mid) <= at) lo = mid;
    else hi = mid - 1;
  }
  const straddles = len(lo) < at && lo < ids.length;
  return { token: side === 'end' && straddles ? lo + 1 : lo, exact: false };
}
