// The whole data pipeline in one call: text of a dropped file → parsed rows →
// train / held-out split → tokens and loss masks → windows of T tokens, plus the
// preview and counts the UI shows. Deterministic for a seed.
//   .txt            positional split (the last evalFraction of the text, from a line
//                   start, is held out, and returned as text for perplexity), one
//                   document each, 'concat' windows
//   JSON text rows  positional split by rows, EOS after each row, 'concat' windows
//   instruction/chat  rows shuffled with the seed, the last evalFraction held out,
//                   'packed' windows (no example split when it fits)
// Train windows are shuffled with the seed; held-out windows keep their order.
import type { Tokenizer } from '../../io/tokenizer/types.ts';
import { dropLosslessWindows, packWindows, reorderWindows, type PackMode, type Windows } from './pack.ts';
import { byLine, parseDataset } from './parse.ts';
import { previewRow, tokenTotals, type DatasetCounts, type PreviewRow } from './preview.ts';
import { checkFraction, permutation, shuffled, splitTail, textCut } from './split.ts';
import { tokenizeExamples, type TokenizeOptions } from './tokenize.ts';
import type { Example, ParsedDataset, Problem, TokenizedExample } from './types.ts';

export interface DatasetOptions extends Omit<TokenizeOptions, 'eosAfterText'> {
  /** T: tokens per window (inputs, targets and mask each hold T). */
  seqLen: number;
  /** Share held out for evaluation, in [0, 1). Default 0.1. */
  evalFraction?: number;
  /** Seed of the row shuffle and the train-window order. Default 0. */
  seed?: number;
  /** Default 'concat' for text, 'packed' for instruction and chat data. */
  packing?: PackMode;
  /** Id of padding tokens (mask 0). Default the first EOS id, else 0. */
  padId?: number;
  /** How many examples the preview shows. Default 5. */
  previewRows?: number;
}

export interface PreparedDataset {
  file: string;
  /** The parsed file, minus its examples (they live on as tokens below). */
  parsed: Omit<ParsedDataset, 'examples'>;
  packing: PackMode;
  trainExamples: TokenizedExample[];
  evalExamples: TokenizedExample[];
  train: Windows;
  eval: Windows;
  /** Plain .txt only: the held-out text, for a perplexity run by `sub4 eval`'s protocol. */
  heldOutText?: string;
  /** Parse and tokenization problems, by line. */
  problems: Problem[];
  notes: string[];
  preview: PreviewRow[];
  counts: DatasetCounts;
}

/** A .txt file's one document, cut into the training part and the held-out part. */
function textPieces(text: string, evalFraction: number): { pieces: Example[]; heldOut: string } {
  const cut = textCut(text, evalFraction);
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < cut; i = text.indexOf('\n', i + 1)) line++;
  const pieces: Example[] = [{ kind: 'text', line: 1, index: 0, text: text.slice(0, cut) }];
  if (cut < text.length) pieces.push({ kind: 'text', line, index: 1, text: text.slice(cut) });
  return { pieces, heldOut: text.slice(cut) };
}

export function buildDataset(text: string, file: string, tok: Tokenizer, options: DatasetOptions): PreparedDataset {
  const evalFraction = options.evalFraction ?? 0.1;
  const seed = options.seed ?? 0;
  checkFraction(evalFraction);
  if (!Number.isInteger(options.seqLen) || options.seqLen < 1) throw new RangeError(`seqLen ${options.seqLen} must be a positive integer`);

  const { examples: parsedExamples, ...parsed } = parseDataset(text, file);
  const txt = parsed.source === 'txt';
  const split = txt ? textPieces(parsedExamples[0].kind === 'text' ? parsedExamples[0].text : '', evalFraction) : undefined;

  const tk = tokenizeExamples(split ? split.pieces : parsedExamples, tok, file, {
    plainChatFallback: options.plainChatFallback,
    source: parsed.source,
    eosAfterText: !txt,
    onProgress: options.onProgress,
  });

  let trainExamples: TokenizedExample[];
  let evalExamples: TokenizedExample[];
  if (txt) {
    trainExamples = tk.examples.filter((e) => e.index === 0);
    evalExamples = tk.examples.filter((e) => e.index === 1);
  } else {
    const s = splitTail(parsed.kind === 'text' ? tk.examples : shuffled(tk.examples, seed), evalFraction);
    trainExamples = s.train;
    evalExamples = s.eval;
  }

  const packing = options.packing ?? (parsed.kind === 'text' ? 'concat' : 'packed');
  const padId = options.padId ?? tok.eosIds[0] ?? 0;
  // Windows with no token in the loss are left out (and counted): they would train and score nothing.
  const packedTrain = dropLosslessWindows(packWindows(trainExamples, options.seqLen, packing, padId));
  const train = reorderWindows(packedTrain.windows, permutation(packedTrain.windows.count, seed));
  const packedHeld = dropLosslessWindows(packWindows(evalExamples, options.seqLen, packing, padId));
  const held = packedHeld.windows;

  const problems = [...parsed.problems, ...tk.problems].sort(byLine);
  const totals = tokenTotals(tk.examples);
  const counts: DatasetCounts = {
    examples: tk.examples.length,
    trainExamples: trainExamples.length,
    evalExamples: evalExamples.length,
    tokens: totals.tokens,
    lossTokens: totals.lossTokens,
    trainWindows: train.count,
    evalWindows: held.count,
    padTokens: train.padTokens + held.padTokens,
    windowsWithoutLoss: packedTrain.dropped + packedHeld.dropped,
    rowsLeftOut: new Set(problems.filter((p) => !p.kept && p.index !== undefined).map((p) => `${p.line}:${p.index}`)).size,
    rowsWithWarnings: new Set(problems.filter((p) => p.kept).map((p) => `${p.line}:${p.index}`)).size,
  };
  return {
    file,
    parsed,
    packing,
    trainExamples,
    evalExamples,
    train,
    eval: held,
    ...(split ? { heldOutText: split.heldOut } : {}),
    problems,
    notes: [...parsed.notes, ...tk.notes],
    preview: tk.examples.slice(0, options.previewRows ?? 5).map((e) => previewRow(tok, e)),
    counts,
  };
}
