// The shapes that flow through the data pipeline: parsed examples (one per row
// of the file), the problems found on the way (with the line they came from),
// and tokenized examples with their loss masks.
import type { ChatMessage } from '../../io/tokenizer/types.ts';

/**
 * Something wrong with one row. `line` is 1-based in the file; `index` is the row's
 * position (JSONL: non-blank row number, JSON array: element index), both 0-based.
 * `kept` is true when the row still loaded (e.g. a token-boundary fallback), false
 * when it was left out.
 */
export interface Problem {
  line: number;
  index?: number;
  message: string;
  kept: boolean;
}

/** What a row holds once validated: the three kinds of training data. */
export type Example =
  | { kind: 'text'; line: number; index: number; text: string }
  | { kind: 'instruction'; line: number; index: number; instruction: string; input: string; output: string }
  | { kind: 'chat'; line: number; index: number; messages: ChatMessage[] };

export type ExampleKind = Example['kind'];

/** How the file was read: a whole plain-text file, JSON Lines, or one JSON array. */
export type SourceFormat = 'txt' | 'jsonl' | 'json-array';

export interface ParsedDataset {
  file: string;
  source: SourceFormat;
  /** The kind every example has (mixed files keep the majority kind; other rows become problems). */
  kind: ExampleKind;
  /** Human-readable sub-format, e.g. "Alpaca (instruction/input/output)", "ShareGPT conversations + DPO chosen". */
  detail: string;
  examples: Example[];
  problems: Problem[];
  /** Facts the user should know that are not problems (fields ignored, labels unused...). */
  notes: string[];
}

/**
 * One example as tokens. mask[j] = 1 when token j is a target whose loss counts,
 * i.e. the prediction of token j from tokens 0..j-1 is trained. mask[0] is always 0
 * (nothing inside the example predicts its first token).
 */
export interface TokenizedExample {
  line: number;
  index: number;
  ids: number[];
  mask: Uint8Array;
}
