// `npm run bench -- load --eval`: the still-right check of issue 20 at full size. The written
// 1.1B-shaped GGUF is scored by the `sub4 eval` command itself (a child process, as a user runs
// it: bin/sub4.js, its progress events counted) and by llama.cpp (node-llama-cpp, CPU, F32 KV
// cache and no flash attention: the full-precision path) over the same windows of
// tinyshakespeare (tests/helpers/perplexity.ts's protocol: BOS + ctx−1 tokens per window).
// Minutes on a software adapter: a benchmark, never a test.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { getLlama } from 'node-llama-cpp';
import { perplexity, pplWindows } from '../tests/helpers/perplexity.ts';

const VOCAB = 32000;
const round = (x: number, d = 2) => +x.toFixed(d);

export async function* evalVsLlamaCpp(model: string, mix: string, ctxLen = 64, windows = 2) {
  const fixtures = resolve(process.env.SUB4_FIXTURES ?? resolve(import.meta.dirname, '../../shared'));
  const data = resolve(fixtures, 'data/tinyshakespeare/input.txt');
  const bin = resolve(import.meta.dirname, '../bin/sub4.js');
  const t0 = performance.now();
  const out = execFileSync(bin, ['eval', model, '--data', data, '--ctx', String(ctxLen), '--windows', String(windows), '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const sub4S = (performance.now() - t0) / 1000;
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { type?: string; ppl?: number; tokens?: number });
  const got = lines[lines.length - 1];
  if (got.ppl === undefined) throw new Error(`load bench: sub4 eval printed no perplexity: ${out.slice(-500)}`);

  const llama = await getLlama({ gpu: false });
  const ref = await llama.loadModel({ modelPath: model, gpuLayers: 0 });
  try {
    const text = readFileSync(data, 'utf8').slice(0, 100_000);
    const wins = pplWindows(ref.tokenize(text, false) as number[], ref.tokens.bos as number, ctxLen, windows);
    const t1 = performance.now();
    const want = await perplexity(wins, async (tokens) => {
      const c = await ref.createContext({ contextSize: ctxLen, batchSize: ctxLen, sequences: 1, threads: 2, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
      try {
        const res = await c.getSequence().controlledEvaluate(tokens.map((t) => [t as never, { generateNext: { logits: true } }] as const));
        return res.map((r, i) => {
          if (!r?.next.logits) throw new Error(`llama.cpp returned no logits for position ${i}`);
          const row = new Float32Array(VOCAB); // the bench model's vocabulary (bench/load_model.ts)
          for (const [id, v] of r.next.logits) row[id as number] = v;
          return row;
        });
      } finally {
        await c.dispose();
      }
    });
    if (want.tokens !== got.tokens) throw new Error(`load bench: llama.cpp scored ${want.tokens} tokens, sub4 ${got.tokens}`);
    yield {
      bench: 'load', kernel: 'eval vs llama.cpp', mix, ctx: ctxLen, windows, tokens: got.tokens,
      sub4_ppl: round(got.ppl, 4), llamacpp_ppl: round(want.ppl, 4), diff_pct: round(100 * (got.ppl / want.ppl - 1), 4),
      sub4_eval_command_s: round(sub4S, 1), progress_events: lines.length - 1, llamacpp_s: round((performance.now() - t1) / 1000, 1),
    };
  } finally {
    await ref.dispose();
    await llama.dispose();
  }
}
