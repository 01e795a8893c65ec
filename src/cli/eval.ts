// `sub4 eval <model> --data <text>`: perplexity of a text file on the GPU, by
// the windowed protocol of src/model/eval.ts (the one the llama.cpp comparison
// uses): windows of --ctx tokens starting with BOS, tokens 1..ctx−1 scored.
import { readFile } from 'node:fs/promises';
import type { Command } from './args.ts';
import { UsageError } from './args.ts';
import { EvalDataError, evalWindows, perplexityOf, tokenizePrefix } from '../model/eval.ts';
import { intFlag, openWithTokenizer, toGpu, type GpuModelSession, type ModelFile } from './model_gpu.ts';
import { attachPeftAdapter, tunedToGpu, type TunedSession } from './state_gpu.ts';
import { scoreAgainstTeacher } from './tune_distill.ts';
import { STATE_MANIFEST_FILE } from '../train/state.ts';
import { stat } from 'node:fs/promises';
import { CliProgress, rate } from './progress.ts';
import { join } from 'node:path';

const isSession = (m: ModelFile | TunedSession): m is TunedSession => 'trainable' in m;

async function isTrainedState(path: string): Promise<boolean> {
  return stat(join(path, STATE_MANIFEST_FILE)).then((s) => s.isFile(), () => false);
}

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
    'usage: sub4 eval <file.gguf | hf-folder | trained-state folder> --data <text-file> [--ctx 128] [--windows 8] [--batch-tokens 2048] [--json]',
    '  a folder written by sub4 tune --out evaluates the tuned model (its base from the manifest, or --base <model>)',
    '  --teacher       also score against this unquantized teacher (same tokenizer): KL(teacher ‖ model) per token,',
    '                  top-1 agreement and the teacher\'s own perplexity, on the same windows',
    '  --lora          a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) applied to the model',
    '  --data          plain UTF-8 text; its first windows·(ctx−1) tokens are used',
    '  --ctx           tokens per window, BOS included (default 128)',
    '  --windows       number of consecutive windows (default 8)',
    '  --batch-tokens  most tokens per forward pass (default 2048)',
    '  --json          print {tokens, nll, ppl} as JSON, after {"type":"progress",…} lines for loading and evaluating',
    '  (without --json, a progress line on stderr when it is a terminal)',
  ].join('\n'),
  options: { data: { type: 'string' }, ctx: { type: 'string' }, windows: { type: 'string' }, 'batch-tokens': { type: 'string' }, json: { type: 'boolean' }, base: { type: 'string' }, lora: { type: 'string' }, teacher: { type: 'string' } },
  async run(values, positionals) {
    if (positionals.length !== 1) throw new UsageError(`eval takes one model path\n\n${this.usage}`);
    if (typeof values.data !== 'string') throw new UsageError(`eval needs --data <text-file>\n\n${this.usage}`);
    const ctxLen = intFlag(values.ctx, 'ctx', 128, 2);
    const windows = intFlag(values.windows, 'windows', 8);
    const batchTokens = intFlag(values['batch-tokens'], 'batch-tokens', 2048);
    const text = await readTextFile(values.data);
    const tuned = await isTrainedState(positionals[0]);
    const m: ModelFile | TunedSession = tuned ? await tunedToGpu(positionals[0], typeof values.base === 'string' ? values.base : undefined) : await openWithTokenizer(positionals[0]);
    let wins: number[][];
    try {
      const bos = m.tokenizer.bosId;
      const ids = tokenizePrefix(m.tokenizer, text, (bos === null ? ctxLen : ctxLen - 1) * windows);
      wins = evalWindows(ids, bos, ctxLen, windows, values.data);
    } catch (e) {
      await (isSession(m) ? m.close() : m.file.close());
      throw e;
    }
    const progress = CliProgress.for(!!values.json);
    const s: GpuModelSession = isSession(m) ? m : await toGpu(m, progress);
    let adapter: Awaited<ReturnType<typeof attachPeftAdapter>> | null = null;
    try {
      if (typeof values.lora === 'string') adapter = await attachPeftAdapter(s, values.lora);
      const t0 = performance.now();
      const onProgress = (done: number, total: number) => progress.update('eval', done * ctxLen, total * ctxLen, 'tokens');
      onProgress(0, wins.length);
      const r = await perplexityOf(s.model, wins, { batchTokens, lora: adapter?.lora ?? (isSession(m) ? m.lora : undefined), onProgress });
      progress.end();
      const secs = (performance.now() - t0) / 1000;
      const result = { tokens: r.tokens, nll: r.nll, ppl: r.ppl };
      if (values.json) console.log(JSON.stringify(result));
      else console.log(`perplexity ${r.ppl.toFixed(4)} (mean nll ${r.nll.toFixed(6)} over ${r.tokens} tokens: ${windows} windows of ${ctxLen})`);
      if (typeof values.teacher === 'string') await scoreAgainstTeacher(s, isSession(m) ? m.trainable : null, values.teacher, wins, values.json === true);
      console.error(`sub4 eval: ${s.ctx.adapter.description || s.ctx.adapter.vendor}; load ${s.loadSeconds.toFixed(2)} s, eval ${secs.toFixed(2)} s (${rate(((windows * ctxLen) / secs))} tokens/s)`);
      return 0;
    } finally {
      adapter?.destroy();
      await s.close();
    }
  },
};
