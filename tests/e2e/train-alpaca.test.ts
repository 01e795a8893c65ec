// Issue 21 in the built app in Chromium (SwiftShader WebGPU), on the issue's own
// recipe: stories260K.gguf (F32) + alpaca_5000.json, PEQA 4-bit, seq 64, batch 2,
// seed 0, 15 steps, at the PEQA preset's lr.
//  - item 1: the run used to die at step 13 ("no token whose loss counts"): the data
//    report now counts the windows with no token in the loss (left out), and the
//    run ends done with an exportable result (GGUF written into a folder); and, item 7,
//    at the preset's lr (now 1e-3) the held-out loss falls clearly;
//  - item 8: Stop pressed during the first evaluation ends the run within one eval
//    batch, with no second evaluation or sampling, and nothing to export;
//  - item 7: a run whose held-out loss ends worse than it started (lr 0.1) says so,
//    with a lower learning rate to try.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { fixture } from '../helpers/fixtures.ts';
import { haveChromium, startApp, studioWithRun, type AppHarness } from './harness.ts';

const GGUF = fixture('models/stories260K.gguf');
const ALPACA = fixture('data/alpaca/alpaca_5000.json');
const RUN_TIMEOUT_MS = 240_000;

const attr = async (page: Page, testId: string, name: string) => (await page.getByTestId(testId).getAttribute(name)) ?? '';
const until = (page: Page, fn: string, timeout = RUN_TIMEOUT_MS) => page.waitForFunction(fn, undefined, { timeout, polling: 50 });
const status = (page: Page) => page.getByTestId('train-status').textContent();
const runIdAbove = (n: number) => `Number(document.querySelector('[data-testid="train-panel"]')?.getAttribute('data-run-id')) > ${n}`;
const ended = `['done', 'stopped', 'error'].includes(document.querySelector('[data-testid="train-status"]')?.textContent)`;

async function fill(page: Page, values: [string, string | number][]): Promise<void> {
  for (const [id, v] of values) await page.getByTestId(id).fill(String(v));
  await until(page, `!document.querySelector('[data-testid="train-start"]')?.disabled`, 60_000);
}

/** Start a run and wait for it to end; returns the run's number. */
async function runToEnd(page: Page): Promise<void> {
  const before = Number(await attr(page, 'train-panel', 'data-run-id'));
  await page.getByTestId('train-start').click();
  await until(page, `${runIdAbove(before)} && ${ended}`);
}

describe.skipIf(!haveChromium || !GGUF || !ALPACA)('issue 21: the Alpaca recipe in Chromium', () => {
  let app: AppHarness;
  let page: Page;

  beforeAll(async () => {
    app = await startApp();
    page = await studioWithRun(app, GGUF!, { name: 'alpaca_5000.json', text: readFileSync(ALPACA!, 'utf8'), type: 'application/json' });
    await until(page, `document.querySelector('[data-testid="train-data-file"]')?.textContent === 'alpaca_5000.json'`, 30_000);
    await fill(page, [['train-steps', 15], ['train-seq', 64], ['train-batch', 2], ['train-seed', 0], ['train-eval-windows', 8], ['train-sample-tokens', 8]]);
    await until(page, `document.querySelector('[data-testid="train-data-counts"]')?.textContent.includes('windows of 64 tokens')`, 60_000);
  });

  afterAll(async () => {
    await app?.close();
  });

  it('the data report counts the windows left out for having no token in the loss', async () => {
    const counts = await page.getByTestId('train-data-counts').innerText();
    console.log(`dataset: ${counts}`);
    expect(Number(await attr(page, 'train-data-counts', 'data-without-loss'))).toBeGreaterThan(0);
    expect(counts).toMatch(/[\d,]+ windows skipped with no token in the loss/);
  });

  it('Stop during the first evaluation stops within one batch, and leaves nothing to export', async () => {
    // Many held-out windows, so the first evaluation is long enough to press Stop in.
    await fill(page, [['train-eval-windows', 1000]]);
    const before = Number(await attr(page, 'train-panel', 'data-run-id'));
    await page.getByTestId('train-start').click();
    await until(page, `${runIdAbove(before)} && (document.querySelector('[data-testid="train-phase"]')?.textContent.startsWith('scoring the held-out') || ${ended})`);
    const t0 = Date.now();
    await page.getByTestId('train-stop').click();
    await until(page, ended, 60_000);
    const seconds = (Date.now() - t0) / 1000;
    const result = await page.getByTestId('train-result').innerText();
    console.log(`stopped in the first evaluation after ${seconds.toFixed(1)} s: ${result.replace(/\s+/g, ' ')}`);
    expect(await status(page)).toBe('stopped');
    expect(await attr(page, 'train-result', 'data-steps')).toBe('0');
    expect(result).toContain('stopped before the first step; nothing was trained');
    // No second evaluation, no after sample, nothing to export or to generate with.
    expect(await attr(page, 'train-eval', 'data-before')).toBe('');
    expect(await attr(page, 'train-eval', 'data-after')).toBe('');
    expect(await page.getByTestId('sample-after').count()).toBe(0);
    expect(await page.getByTestId('export-panel').count()).toBe(0);
    expect(await page.getByTestId('generate-model').count()).toBe(0);
    await fill(page, [['train-eval-windows', 8]]);
  });

  it('15 steps of the recipe end done, past step 13, with a run that exports', async () => {
    const t0 = Date.now();
    await runToEnd(page);
    const result = await page.getByTestId('train-result').innerText();
    console.log(`recipe: ${((Date.now() - t0) / 1000).toFixed(1)} s: ${result.replace(/\s+/g, ' ')}`);
    expect(await page.getByTestId('train-status').textContent()).toBe('done');
    expect(await attr(page, 'train-result', 'data-stop')).toBe('done');
    expect(await attr(page, 'train-result', 'data-steps')).toBe('15');
    expect(await page.getByTestId('sample-after').textContent()).not.toBeNull();
    // At the preset's lr the tune helps: 3e-3 (the old preset) moved the held-out loss 3.764 → 3.733 here with a
    // looping sample, 1e-3 moves it to about 3.28 (the same run through sub4 tune measured both).
    const before = Number(await attr(page, 'train-eval', 'data-before'));
    const after = Number(await attr(page, 'train-eval', 'data-after'));
    expect(after).toBeLessThan(before - 0.2);
    expect(await page.getByTestId('train-warning').count()).toBe(0);

    await until(page, `['ready', 'error'].includes(document.querySelector('[data-testid="export-panel"]')?.getAttribute('data-choices'))`, 60_000);
    expect(await attr(page, 'export-panel', 'data-choices')).toBe('ready');
    expect(await page.getByTestId('export-gguf').isDisabled()).toBe(false);
    // The origin-private file system stands in for a picked folder (the same FileSystemDirectoryHandle API).
    await page.evaluate(() => {
      (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = () => navigator.storage.getDirectory();
    });
    await page.getByTestId('export-gguf').click();
    await until(page, `['done', 'error', 'cancelled'].includes(document.querySelector('[data-testid="export-job"]')?.getAttribute('data-status'))`, 120_000);
    expect(await attr(page, 'export-job', 'data-status')).toBe('done');
    const files = await page.evaluate(async () => {
      const root = await navigator.storage.getDirectory();
      const out: Record<string, number> = {};
      // Files only: the origin's storage also holds the studio's own folders (saved runs, the Hub cache).
      for await (const [name, h] of (root as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries())
        if (h.kind === 'file') out[name] = (await (h as FileSystemFileHandle).getFile()).size;
      return out;
    });
    console.log(`exported: ${JSON.stringify(files)}`);
    const gguf = Object.keys(files).find((n) => n.endsWith('.gguf'))!;
    expect(Object.keys(files).sort()).toEqual(['README.md', gguf].sort());
    expect(gguf).toMatch(/^stories260K-peqa-/); // named after the model and method
    expect(files[gguf]).toBeGreaterThan(100_000);
    expect(await page.getByTestId('generate-model').inputValue()).toBe('tuned');
  });

  it('a run that leaves the held-out loss worse than it started says so, with a lower learning rate to try', async () => {
    await fill(page, [['train-steps', 3], ['train-lr', '0.1']]);
    await runToEnd(page);
    expect(await status(page)).toBe('done');
    const before = Number(await attr(page, 'train-eval', 'data-before'));
    const after = Number(await attr(page, 'train-eval', 'data-after'));
    const warning = await page.getByTestId('train-warning').innerText();
    console.log(`lr 0.1: held-out ${before.toFixed(4)} → ${after.toFixed(4)}; ${warning}`);
    expect(after).toBeGreaterThan(before);
    expect(warning).toContain(`held-out loss rose from ${before.toFixed(4)} to ${after.toFixed(4)}`);
    expect(warning).toContain('Try a lower learning rate (e.g. 0.033 instead of 0.1)');
  });
});
