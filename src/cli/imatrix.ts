// `sub4 imatrix <model> --data <text> --out F.imatrix.gguf`: an importance
// matrix as llama.cpp's llama-imatrix computes it (tools/imatrix/imatrix.cpp
// compute_imatrix), written in its GGUF layout for llama-quantize --imatrix.
// The text is tokenized with BOS where the model adds one, cut into consecutive
// chunks of --ctx tokens whose first token is replaced by BOS, and at most
// --chunks of them (default all) run through the model; at least 2·ctx tokens
// are required, as llama.cpp does. Σx² per input column of every linear weight
// of every layer is summed on the GPU (src/model/imatrix.ts).
import type { Command } from './args.ts';
import { UsageError } from './args.ts';
import { EvalDataError, tokenizePrefix } from '../model/eval.ts';
import { collectImatrix } from '../model/imatrix.ts';
import { writeImatrixGguf } from '../io/imatrix/writer.ts';
import { fileSink } from '../io/sink.node.ts';
import type { Tokenizer } from '../io/tokenizer/types.ts';
import { intFlag, openWithTokenizer, toGpu } from './model_gpu.ts';
import { readTextFile } from './eval.ts';
import { CliProgress, rate } from './progress.ts';

/** llama.cpp's imatrix only collects products of at least this many token rows. */
const MIN_ROWS = 16;

/**
 * llama.cpp's chunks: the text's tokens (BOS first when the model adds it),
 * chunks of ctx consecutive tokens, each starting with BOS when the model adds
 * it (the chunk's own first token is replaced). `chunks` null: all of them.
 */
export function imatrixChunks(tok: Tokenizer, text: string, ctx: number, chunks: number | null, file: string): number[][] {
  const bos = tok.addBosDefault ? tok.bosId : null;
  const lead = bos === null ? 0 : 1;
  // Only the prefix that the chunks (and llama.cpp's 2·ctx minimum) need is tokenized.
  const need = chunks === null ? Infinity : Math.max(chunks, 2) * ctx - lead;
  const body = need === Infinity ? tokenizePrefix(tok, text, Number.MAX_SAFE_INTEGER) : tokenizePrefix(tok, text, need);
  const ids = bos === null ? body : [bos, ...body];
  if (ids.length < 2 * ctx)
    throw new EvalDataError(file, `the text has ${ids.length} tokens; llama.cpp's imatrix needs at least 2·ctx = ${2 * ctx} for a context of ${ctx}`);
  const n = Math.min(chunks ?? Infinity, Math.floor(ids.length / ctx));
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const c = ids.slice(i * ctx, (i + 1) * ctx);
    if (bos !== null) c[0] = bos;
    out.push(c);
  }
  return out;
}

export const imatrixCommand: Command = {
  name: 'imatrix',
  summary: 'importance matrix (llama.cpp imatrix GGUF) of a model over a text file, for llama-quantize --imatrix',
  usage: [
    'usage: sub4 imatrix <file.gguf | hf-folder> --data <text-file> --out <F.imatrix.gguf> [--ctx 512] [--chunks N] [--batch-tokens 2048] [--json]',
    '  --data          plain UTF-8 text, tokenized with BOS where the model adds one',
    '  --out           the imatrix GGUF to write (general.type = imatrix; <weight>.in_sum2 / <weight>.counts)',
    '  --ctx           tokens per chunk, BOS included (default 512, at least 16: llama.cpp skips smaller batches)',
    '  --chunks        number of consecutive chunks (default: all the text holds)',
    '  --batch-tokens  most tokens per forward pass (default 2048)',
    '  --json          print the result as JSON, after {"type":"progress",…} lines',
    '  (without --json, a progress line on stderr when it is a terminal)',
  ].join('\n'),
  options: { data: { type: 'string' }, out: { type: 'string' }, ctx: { type: 'string' }, chunks: { type: 'string' }, 'batch-tokens': { type: 'string' }, json: { type: 'boolean' } },
  async run(values, positionals) {
    if (positionals.length !== 1) throw new UsageError(`imatrix takes one model path\n\n${this.usage}`);
    if (typeof values.data !== 'string') throw new UsageError(`imatrix needs --data <text-file>\n\n${this.usage}`);
    if (typeof values.out !== 'string') throw new UsageError(`imatrix needs --out <F.imatrix.gguf>\n\n${this.usage}`);
    const ctxLen = intFlag(values.ctx, 'ctx', 512, MIN_ROWS);
    const chunks = values.chunks === undefined ? null : intFlag(values.chunks, 'chunks', 1);
    const batchTokens = intFlag(values['batch-tokens'], 'batch-tokens', 2048);
    const text = await readTextFile(values.data);
    const m = await openWithTokenizer(positionals[0]);
    let wins: number[][];
    try {
      wins = imatrixChunks(m.tokenizer, text, ctxLen, chunks, values.data);
    } catch (e) {
      await m.file.close();
      throw e;
    }
    const progress = CliProgress.for(!!values.json);
    const s = await toGpu(m, progress);
    try {
      const t0 = performance.now();
      const onProgress = (done: number, total: number) => progress.update('imatrix', done * ctxLen, total * ctxLen, 'tokens');
      onProgress(0, wins.length);
      const im = await collectImatrix(s.model, wins, { batchTokens, onProgress });
      progress.end();
      im.datasets = [values.data];
      const sink = await fileSink(values.out);
      let bytes: number;
      try {
        bytes = await writeImatrixGguf(sink, im, values.out);
        await sink.commit();
      } catch (e) {
        await sink.abort();
        throw e;
      }
      const secs = (performance.now() - t0) / 1000;
      const result = { out: values.out, entries: im.entries.size, chunks: wins.length, ctx: ctxLen, tokens: wins.length * ctxLen, bytes };
      if (values.json) console.log(JSON.stringify(result));
      else console.log(`wrote ${values.out}: ${im.entries.size} entries over ${wins.length} chunks of ${ctxLen} tokens`);
      console.error(`sub4 imatrix: ${s.ctx.adapter.description || s.ctx.adapter.vendor}; load ${s.loadSeconds.toFixed(2)} s, collect ${secs.toFixed(2)} s (${rate(((wins.length * ctxLen) / secs))} tokens/s)`);
      return 0;
    } finally {
      await s.close();
    }
  },
};
