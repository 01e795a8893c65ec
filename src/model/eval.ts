// Perplexity of a text, by the protocol `sub4 eval` and the llama.cpp reference
// share (tests/helpers/perplexity.ts): the text's tokens (no BOS) are cut into
// `windows` consecutive windows of ctx − 1 tokens, each prefixed with BOS, and
// tokens 1..ctx−1 of every window are scored (mean negative log-likelihood over
// all of them; ppl = exp(nll)). Windows run B at a time as one batch, and the
// per-token loss comes from the chunked cross-entropy, so N×V logits never
// exist at once.
import { FormatError } from '../base/errors.ts';
import type { Tokenizer } from '../io/tokenizer/types.ts';
import type { LayerLora, LlamaModel } from './llama.ts';

/** The data cannot fill the requested windows (or is otherwise unusable for evaluation). */
export class EvalDataError extends FormatError {}

export interface PerplexityResult {
  tokens: number;
  nll: number;
  ppl: number;
}

/** Token ids of plain text for evaluation: no BOS, special-token text kept as text where the tokenizer allows. */
function encodePlain(tok: Tokenizer, text: string): number[] {
  return tok.encode(text, tok.kind === 'hf' ? { addBos: false } : { addBos: false, parseSpecial: false });
}

/**
 * The first `needed` tokens of the text (fewer if the text is shorter),
 * tokenizing only a prefix: whole lines, grown until it yields `needed` plus a
 * margin, so the tokens kept equal those of the whole text (tokenization only
 * differs near the cut) at a fraction of the cost on a large file.
 */
export function tokenizePrefix(tok: Tokenizer, text: string, needed: number): number[] {
  const MARGIN = 64;
  for (let chars = Math.max(4096, needed * 8); ; chars *= 2) {
    const cut = chars >= text.length ? -1 : text.indexOf('\n', chars);
    if (cut < 0) return encodePlain(tok, text).slice(0, needed);
    const ids = encodePlain(tok, text.slice(0, cut + 1));
    if (ids.length >= needed + MARGIN) return ids.slice(0, needed);
  }
}

/** Windows of ctx tokens: BOS + ctx − 1 text tokens each (ctx text tokens when there is no BOS). */
export function evalWindows(ids: readonly number[], bos: number | null, ctx: number, windows: number, file: string): number[][] {
  if (!Number.isInteger(ctx) || ctx < 2) throw new RangeError(`eval: ctx ${ctx} must be an integer ≥ 2 (one token predicts the next)`);
  if (!Number.isInteger(windows) || windows < 1) throw new RangeError(`eval: windows ${windows} must be a positive integer`);
  const body = bos === null ? ctx : ctx - 1;
  const need = body * windows;
  if (ids.length < need)
    throw new EvalDataError(file, `the text has ${ids.length} tokens, but ${windows} windows of ${ctx} tokens need ${need}; use a longer text or fewer/shorter windows (--windows, --ctx)`);
  const out: number[][] = [];
  for (let w = 0; w < windows; w++) {
    const chunk = ids.slice(w * body, (w + 1) * body);
    out.push(bos === null ? chunk : [bos, ...chunk]);
  }
  return out;
}

export interface PerplexityOptions {
  /** Largest B·T of one forward; default 2048 tokens. */
  batchTokens?: number;
  /** Called after each batch with windows done and total. */
  onProgress?(done: number, total: number): void;
  /** LoRA adapters per layer (a tuned model's), as LlamaModel.forward takes them. */
  lora?: readonly LayerLora[];
}

/** Mean NLL over tokens 1..T−1 of equal-length windows; also returns each window's per-token NLL. */
export async function perplexityOf(model: LlamaModel, windows: readonly number[][], opts: PerplexityOptions = {}): Promise<PerplexityResult & { perToken: Float32Array[] }> {
  if (windows.length === 0) throw new RangeError('perplexity: no windows');
  const T = windows[0].length;
  if (windows.some((w) => w.length !== T)) throw new RangeError('perplexity: windows differ in length');
  const perBatch = Math.max(1, Math.floor((opts.batchTokens ?? 2048) / T));
  let sum = 0;
  let count = 0;
  const perToken: Float32Array[] = [];
  for (let w0 = 0; w0 < windows.length; w0 += perBatch) {
    const group = windows.slice(w0, w0 + perBatch);
    const B = group.length;
    const ids = group.flat();
    const targets = new Uint32Array(B * T).fill(0xffffffff);
    const mask = new Uint32Array(B * T);
    for (let b = 0; b < B; b++)
      for (let t = 0; t + 1 < T; t++) {
        targets[b * T + t] = group[b][t + 1];
        mask[b * T + t] = 1;
      }
    const acts = model.activations(B, T);
    try {
      model.forward(acts, ids, { lora: opts.lora });
      const lossT = model.tokenLoss(acts, targets, mask);
      const loss = await lossT.read();
      lossT.destroy();
      for (let b = 0; b < B; b++) {
        const row = loss.slice(b * T, b * T + T - 1);
        for (const v of row) sum += v;
        count += row.length;
        perToken.push(row);
      }
    } finally {
      acts.destroy();
    }
    opts.onProgress?.(Math.min(w0 + B, windows.length), windows.length);
  }
  const nll = sum / count;
  return { tokens: count, nll, ppl: Math.exp(nll), perToken };
}
