// What the UI shows before training: the first examples as text, cut into runs
// that are in the loss or not, and the counts. Plain data, no rendering: the
// runs are decoded token runs, so what is marked is exactly what the mask covers.
import type { Tokenizer } from '../../io/tokenizer/types.ts';
import type { TokenizedExample } from './types.ts';

export interface PreviewSegment {
  text: string;
  /** True when these tokens are targets whose loss counts. */
  loss: boolean;
}

export interface PreviewRow {
  line: number;
  index: number;
  tokens: number;
  lossTokens: number;
  segments: PreviewSegment[];
  /** True when only the first `maxTokens` tokens are shown. */
  truncated: boolean;
}

export interface DatasetCounts {
  /** Examples that tokenized (train + held out). */
  examples: number;
  trainExamples: number;
  evalExamples: number;
  /** Tokens of all examples (BOS and EOS included). */
  tokens: number;
  /** Tokens whose prediction is trained (mask 1). */
  lossTokens: number;
  trainWindows: number;
  evalWindows: number;
  /** Padding among the input positions of all windows. */
  padTokens: number;
  /** Windows left out because no token of theirs is in the loss (parts of examples longer than a window). */
  windowsWithoutLoss: number;
  /** Rows with a problem: left out, and kept with a warning. */
  rowsLeftOut: number;
  rowsWithWarnings: number;
}

/** One example as runs of equal mask, decoded. */
export function previewRow(tok: Tokenizer, e: TokenizedExample, maxTokens = 1024): PreviewRow {
  const n = Math.min(e.ids.length, maxTokens);
  const segments: PreviewSegment[] = [];
  let lossTokens = 0;
  for (const m of e.mask) lossTokens += m;
  for (let a = 0; a < n; ) {
    let b = a + 1;
    while (b < n && e.mask[b] === e.mask[a]) b++;
    segments.push({ text: tok.decode(e.ids.slice(a, b)), loss: e.mask[a] === 1 });
    a = b;
  }
  return { line: e.line, index: e.index, tokens: e.ids.length, lossTokens, segments, truncated: n < e.ids.length };
}

/** Token and loss-token totals of a list of examples. */
export function tokenTotals(examples: readonly TokenizedExample[]): { tokens: number; lossTokens: number } {
  let tokens = 0;
  let lossTokens = 0;
  for (const e of examples) {
    tokens += e.ids.length;
    for (const m of e.mask) lossTokens += m;
  }
  return { tokens, lossTokens };
}
