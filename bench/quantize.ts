// `npm run bench -- quantize`: seconds per million weights of every CPU
// quantizer (bench/quantize_cases.ts), one JSON line per type × imatrix ×
// place: Node on the main thread (threads 1) and across worker_threads (the
// pool, threads = the cores), then Chromium (playwright-core, /usr/bin/chromium,
// the page served by Vite's dev server) on the page's thread and across Web
// Workers. `vs_baseline` = this ÷ the same case in Node on one thread.
// The pool pays only with free cores: on a shared or 2-core machine expect
// little from N workers.
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { createServer } from 'vite';
import { ggmlQuantize } from '../src/quant/quantize/ggml_quantize.ts';
import { createNodeQuantizePool } from '../src/quant/quantize/pool.node.ts';
import { benchCases, COLS, ROWS, timeCase } from './quantize_cases.ts';

const CHROMIUM = '/usr/bin/chromium';

async function browserRows(): Promise<{ type: string; imatrix: boolean; threads: number; s_per_mweight: number }[] | string> {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} not found`;
  const server = await createServer({ root: resolve(import.meta.dirname, '..'), logLevel: 'warn', server: { host: '127.0.0.1', port: 0, strictPort: false } });
  await server.listen();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking', '--no-first-run'] });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`page: ${e.message}`));
    await page.goto(`${server.resolvedUrls!.local[0]}bench/quantize.html`);
    await page.waitForFunction(() => 'sub4QuantizeBench' in globalThis, null, { timeout: 120_000 });
    return await page.evaluate(() => (globalThis as unknown as { sub4QuantizeBench: () => Promise<never> }).sub4QuantizeBench());
  } finally {
    await browser.close();
    await server.close();
  }
}

export async function* quantizeBench() {
  const n = availableParallelism();
  const pool = createNodeQuantizePool(n, { minWeights: 0 });
  const base = new Map<string, number>();
  const key = (c: { type: string; imatrix: boolean }) => `${c.type}:${c.imatrix}`;
  const line = (place: string, c: { type: string; imatrix: boolean }, threads: number, s: number) => ({
    bench: 'quantize', place, type: c.type, imatrix: c.imatrix, threads, weights: ROWS * COLS, s_per_mweight: Number(s.toFixed(4)), vs_baseline: Number((s / base.get(key(c))!).toFixed(3)),
  });
  try {
    for (const c of benchCases()) {
      const one = await timeCase(ggmlQuantize, c);
      base.set(key(c), one);
      yield line('node', c, 1, one);
      yield line('node', c, n, await timeCase((t, s, r, k, w) => pool.quantize(t, s, r, k, w), c));
    }
  } finally {
    pool.destroy();
  }
  const rows = await browserRows();
  if (typeof rows === 'string') yield { bench: 'quantize', place: 'browser', skipped: rows };
  else for (const r of rows) yield line('browser', r, r.threads, r.s_per_mweight);
}
