// The engine worker's quantizer pool: nested Web Workers (pool.browser.ts) for
// one budget plan, or one budget run's plan and split, sized from
// navigator.hardwareConcurrency; the same bytes as ggmlQuantize on this thread
// (src/quant/quantize/pool.ts), so a plan is the same with or without it.
//   - Where Workers are missing (a worker context without nested workers, or
//     Node), the quantizers run on this thread.
//   - The pool lives only while its job runs: destroyed when the job ends, and
//     at once when the signal aborts (Cancel), which refuses the chunks still
//     running so that the job's await ends instead of waiting for them.
//   - minWeights 4096, below the CLI's 65536: the planner's GGUF candidates are
//     the expensive quantizers (0.5–19 s per million weights on one thread,
//     docs/quantize-speed.md), so 4096 weights are milliseconds of work against
//     a message and 16 KiB each way; the small models the tab plans split too.
import type { Quantizer } from '../quant/quantize/pool.ts';
import { createBrowserQuantizePool } from '../quant/quantize/pool.browser.ts';
import { ggmlQuantize } from '../quant/quantize/ggml_quantize.ts';

const MIN_WEIGHTS = 4096;

/** What the pool did for a job: its workers (1: this thread only) and the chunks it posted to them. */
export interface PoolUse {
  workers: number;
  chunks: number;
}

/** Runs `job` with a quantizer across the pool (or this thread); the pool is gone when this returns. */
export async function withQuantizePool<T>(signal: AbortSignal, job: (quantize: Quantizer) => Promise<T>): Promise<{ result: T; use: PoolUse }> {
  const size = typeof Worker === 'function' && typeof navigator !== 'undefined' ? Math.max(1, navigator.hardwareConcurrency || 1) : 1;
  if (size === 1) return { result: await job(ggmlQuantize), use: { workers: 1, chunks: 0 } };
  const pool = createBrowserQuantizePool(size, { minWeights: MIN_WEIGHTS });
  const stop = () => pool.destroy();
  signal.addEventListener('abort', stop, { once: true });
  try {
    const result = await job((t, x, rows, cols, w) => pool.quantize(t, x, rows, cols, w));
    return { result, use: { workers: pool.size, chunks: pool.posted } };
  } finally {
    signal.removeEventListener('abort', stop);
    pool.destroy();
  }
}
