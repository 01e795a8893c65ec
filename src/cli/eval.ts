// `sub4 eval <model> --data <text>`: perplexity of a text file on the GPU, by
// the windowed protocol of src/model/eval.ts (the one the llama.cpp comparison
// uses): windows of --ctx tokens starting with BOS, tokens 1..ctx−1 scored.
import { readFile } from 'node:fs/promises';
import type { Command } from './args.ts';
import { UsageError } from './args.ts';
import { EvalDataError, evalWindows, perplexityOf, tokenizePrefix } from '../model/eval.ts';
import { intFlag, openWithTokenizer, toGpu } from './model_gpu.ts';

/** The data file as text; a missing, unreadable or non-UTF-8 file is an EvalDataError naming it. */
export async function readTextFile(path: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new EvalDataError(path, code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a text file' : `cannot be read (${code ?? (e as Error).message})`);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new EvalDataError(path, 'is not UTF-8 text');
  }
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'perplexity of a model on a text file (windows of --ctx tokens starting with BOS)',
  usage: [
    'usage: sub4 eval <file.gguf | hf-folder> --data <text-file> [--ctx 128] [--windows 8] [--batch-tokens 2048] [--json]',
    '  --data          plain UTF-8 text; its first windows·(ctx−1) tokens are used',
    '  --ctx           tokens per window, BOS included (default 128)',
    '  --windows       number of consecutive windows (default 8)',
    '  --batch-tokens  most tokens per forward pass (default 2048)',
    '  --json          print {tokens, nll, ppl} as JSON',
  ].join('\n'),
  options: { data: { type: 'string' }, ctx: { type: 'string' }, windows: { type: 'string' }, 'batch-tokens': { type: 'string' }, json: { type: 'boolean' } },
  async run(values, positionals) {
    if (positionals.length !== 1) throw new UsageError(`eval takes one model path\n\n${this.usage}`);
    if (typeof values.data !== 'string') throw new UsageError(`eval needs --data <text-file>\n\n${this.usage}`);
    const ctxLen = intFlag(values.ctx, 'ctx', 128, 2);
    const windows = intFlag(values.windows, 'windows', 8);
    const batchTokens = intFlag(values['batch-tokens'], 'batch-tokens', 2048);
    const text = await readTextFile(values.data);
    const m = await openWithTokenizer(positionals[0]);
    let wins: number[][];
    try {
      const bos = m.tokenizer.bosId;
      const ids = tokenizePrefix(m.tokenizer, text, (bos === null ? ctxLen : ctxLen - 1) * windows);
      wins = evalWindows(ids, bos, ctxLen, windows, values.data);
    } catch (e) {
      await m.file.close();
      throw e;
    }
    const s = await toGpu(m);
    try {
      const t0 = performance.now();
      const r = await perplexityOf(s.model, wins, { batchTokens });
      const secs = (performance.now() - t0) / 1000;
      const result = { tokens: r.tokens, nll: r.nll, ppl: r.ppl };
      if (values.json) console.log(JSON.stringify(result));
      else console.log(`perplexity ${r.ppl.toFixed(4)} (mean nll ${r.nll.toFixed(6)} over ${r.tokens} tokens: ${windows} windows of ${ctxLen})`);
      console.error(`sub4 eval: ${s.ctx.adapter.description || s.ctx.adapter.vendor}; load ${s.loadSeconds.toFixed(2)} s, eval ${secs.toFixed(2)} s (${((windows * ctxLen) / secs).toFixed(0)} tokens/s)`);
      return 0;
    } finally {
      await s.close();
    }
  },
};
