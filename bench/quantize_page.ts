// The browser side of `npm run bench -- quantize` (bench/quantize.ts opens
// bench/quantize.html through Vite's dev server in Chromium): the same cases,
// on the page's thread (1) and across Web Workers (the pool, N = the cores).
import { ggmlQuantize } from '../src/quant/quantize/ggml_quantize.ts';
import { createBrowserQuantizePool } from '../src/quant/quantize/pool.browser.ts';
import { benchCases, timeCase } from './quantize_cases.ts';

(globalThis as unknown as { sub4QuantizeBench: () => Promise<unknown[]> }).sub4QuantizeBench = async () => {
  const out: unknown[] = [];
  const pool = createBrowserQuantizePool(navigator.hardwareConcurrency || 2, { minWeights: 0 });
  try {
    for (const c of benchCases()) {
      out.push({ ...c, threads: 1, s_per_mweight: await timeCase(ggmlQuantize, c) });
      out.push({ ...c, threads: pool.size, s_per_mweight: await timeCase((t, s, r, k, w) => pool.quantize(t, s, r, k, w), c) });
    }
  } finally {
    pool.destroy();
  }
  return out;
};
