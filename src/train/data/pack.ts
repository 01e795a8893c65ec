// Tokenized examples → fixed windows of T positions, ready to upload (u32, as the
// embedding and cross-entropy kernels take them).
//
// A window is a run of T + 1 tokens s[0..T]: inputs[t] = s[t], targets[t] = s[t+1],
// mask[t] = the loss mask of s[t+1]. So window w's loss counts the predictions of
// s[1..T] from the tokens before them.
//   'concat'  one stream of all examples cut every T tokens; consecutive windows
//             share one token (the last target of a window is the first input of
//             the next), so every token but the very first is a target exactly once.
//             For plain text.
//   'packed'  examples placed whole: one that does not fit in what is left of the
//             window starts the next window, and the rest is padding (pad id, mask 0).
//             Only an example longer than T + 1 tokens is split, flowing on like
//             'concat'. For instruction and chat data.
// The last window is padded. Tokens of earlier examples in a window stay visible to
// later ones (no per-example attention mask); `segment` says which example each
// input token belongs to, should a kernel ever want one.
import type { TokenizedExample } from './types.ts';

export type PackMode = 'packed' | 'concat';

export interface Windows {
  seqLen: number;
  count: number;
  /** [count · T] token ids. */
  inputs: Uint32Array;
  /** [count · T] the next token of each input. */
  targets: Uint32Array;
  /** [count · T] 1 where targets[i]'s loss counts. */
  mask: Uint32Array;
  /** [count · T] 1 + the position in the packed example list of each input token; 0 for padding. */
  segment: Uint32Array;
  lossTokens: number;
  /** Input positions that are padding. */
  padTokens: number;
}

export function packWindows(examples: readonly TokenizedExample[], seqLen: number, mode: PackMode, padId: number): Windows {
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new RangeError(`seqLen ${seqLen} must be a positive integer`);
  if (!Number.isInteger(padId) || padId < 0) throw new RangeError(`padId ${padId} must be a token id ≥ 0`);
  const T = seqLen;
  const cap = T + 1;
  const inputs: number[] = [];
  const targets: number[] = [];
  const mask: number[] = [];
  const segment: number[] = [];
  let tok: number[] = [];
  let msk: number[] = [];
  let seg: number[] = [];

  const emit = () => {
    while (tok.length < cap) tok.push(padId), msk.push(0), seg.push(0);
    for (let t = 0; t < T; t++) {
      inputs.push(tok[t]);
      targets.push(tok[t + 1]);
      mask.push(msk[t + 1]);
      segment.push(seg[t]);
    }
  };
  /**
   * Appends one token. A full window is emitted first, and its last token carried over as the next
   * window's first input — in 'packed' mode only inside one example (a new example starts afresh:
   * its first token is never in the loss, so nothing is lost and no example leaks into the next window).
   */
  const flow = (id: number, m: number, s: number) => {
    if (tok.length === cap) {
      emit();
      const carry = mode === 'concat' || seg[T] === s;
      tok = carry ? [tok[T]] : [];
      msk = carry ? [msk[T]] : [];
      seg = carry ? [seg[T]] : [];
    }
    tok.push(id), msk.push(m), seg.push(s);
  };
  const closeWindow = () => {
    if (tok.length >= 2) emit();
    tok = [];
    msk = [];
    seg = [];
  };

  examples.forEach((e, k) => {
    if (e.ids.length !== e.mask.length) throw new RangeError(`example ${k}: ${e.ids.length} ids but ${e.mask.length} mask entries`);
    if (mode === 'packed' && e.ids.length <= cap && tok.length + e.ids.length > cap) closeWindow();
    for (let j = 0; j < e.ids.length; j++) flow(e.ids[j], e.mask[j], k + 1);
  });
  closeWindow();

  let lossTokens = 0;
  let padTokens = 0;
  for (let i = 0; i < mask.length; i++) {
    lossTokens += mask[i];
    if (segment[i] === 0) padTokens++;
  }
  return {
    seqLen: T,
    count: inputs.length / T,
    inputs: Uint32Array.from(inputs),
    targets: Uint32Array.from(targets),
    mask: Uint32Array.from(mask),
    segment: Uint32Array.from(segment),
    lossTokens,
    padTokens,
  };
}

/** Window w as views (no copies). */
export function windowAt(w: Windows, i: number): { inputs: Uint32Array; targets: Uint32Array; mask: Uint32Array; segment: Uint32Array } {
  if (!Number.isInteger(i) || i < 0 || i >= w.count) throw new RangeError(`window ${i} is outside 0..${w.count - 1}`);
  const a = i * w.seqLen;
  const b = a + w.seqLen;
  return { inputs: w.inputs.subarray(a, b), targets: w.targets.subarray(a, b), mask: w.mask.subarray(a, b), segment: w.segment.subarray(a, b) };
}

/** The windows reordered by `order` (a permutation of 0..count−1), e.g. a seeded shuffle. */
export function reorderWindows(w: Windows, order: ArrayLike<number>): Windows {
  if (order.length !== w.count) throw new RangeError(`order has ${order.length} entries for ${w.count} windows`);
  const T = w.seqLen;
  const out = { ...w, inputs: new Uint32Array(w.inputs.length), targets: new Uint32Array(w.targets.length), mask: new Uint32Array(w.mask.length), segment: new Uint32Array(w.segment.length) };
  for (let i = 0; i < w.count; i++) {
    const src = order[i] * T;
    out.inputs.set(w.inputs.subarray(src, src + T), i * T);
    out.targets.set(w.targets.subarray(src, src + T), i * T);
    out.mask.set(w.mask.subarray(src, src + T), i * T);
    out.segment.set(w.segment.subarray(src, src + T), i * T);
  }
  return out;
}

/**
 * The windows without those whose mask is all 0, and how many went. Such a window is
 * the middle of an example longer than a window whose loss falls elsewhere (a long
 * Alpaca instruction cut every T + 1 tokens): it trains nothing, and a step made only
 * of such windows has no loss to divide by. Windows never see each other (no state
 * crosses a window), so dropping one changes no other window's loss.
 */
export function dropLosslessWindows(w: Windows): { windows: Windows; dropped: number } {
  const T = w.seqLen;
  const keep: number[] = [];
  for (let i = 0; i < w.count; i++) if (w.mask.subarray(i * T, i * T + T).some((m) => m !== 0)) keep.push(i);
  if (keep.length === w.count) return { windows: w, dropped: 0 };
  const out: Windows = { ...w, count: keep.length, inputs: new Uint32Array(keep.length * T), targets: new Uint32Array(keep.length * T), mask: new Uint32Array(keep.length * T), segment: new Uint32Array(keep.length * T), padTokens: 0 };
  keep.forEach((src, i) => {
    out.inputs.set(w.inputs.subarray(src * T, src * T + T), i * T);
    out.targets.set(w.targets.subarray(src * T, src * T + T), i * T);
    out.mask.set(w.mask.subarray(src * T, src * T + T), i * T);
    out.segment.set(w.segment.subarray(src * T, src * T + T), i * T);
  });
  for (const s of out.segment) if (s === 0) out.padTokens++;
  return { windows: out, dropped: w.count - keep.length };
}
