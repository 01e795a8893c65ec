// The perplexity protocol shared by sub4 and the llama.cpp reference: windows of
// `ctx` tokens, each starting with BOS, scoring tokens 1..ctx−1 (the protocol
// of `sub4 eval`). Works on any function that yields per-position logits.

export interface PplResult {
  tokens: number;
  nll: number;
  ppl: number;
}

/** Split a token stream (without BOS) into `windows` windows of ctx−1 tokens, each prefixed with BOS. */
export function pplWindows(ids: readonly number[], bos: number, ctx: number, windows: number): number[][] {
  const out: number[][] = [];
  for (let w = 0; w < windows; w++) {
    const body = ids.slice(w * (ctx - 1), (w + 1) * (ctx - 1));
    if (body.length < ctx - 1) break;
    out.push([bos, ...body]);
  }
  if (out.length < windows) throw new Error(`text too short: ${out.length} of ${windows} windows of ${ctx} tokens`);
  return out;
}

/** Mean negative log-likelihood of window[i+1] given logits after window[i], over all windows. */
export async function perplexity(windows: number[][], logitsOf: (tokens: number[]) => Promise<Float32Array[]>): Promise<PplResult> {
  let nll = 0;
  let n = 0;
  for (const win of windows) {
    const rows = await logitsOf(win);
    for (let i = 0; i + 1 < win.length; i++) {
      const row = rows[i];
      let max = -Infinity;
      for (const v of row) max = Math.max(max, v);
      let sum = 0;
      for (const v of row) sum += Math.exp(v - max);
      nll += max + Math.log(sum) - row[win[i + 1]];
      n++;
    }
  }
  return { tokens: n, nll: nll / n, ppl: Math.exp(nll / n) };
}
