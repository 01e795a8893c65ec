// The model card's loading bar and Cancel in the built app in Chromium: pick a
// GGUF whose header takes many slices to read (stories260K plus 24 MiB of extra
// metadata, tests/helpers/padded_gguf.ts), watch the bar move, press Cancel and
// see the load stop with no model open; then open stories260K itself and see it
// ready. The worker side of cancelling is tested without a browser in
// load-model.test.ts.
//
// A slow disk: inside the engine worker every slice read waits 300 ms before it
// starts (Blob.prototype.arrayBuffer wrapped), so the bar stands at each value long
// enough to be seen and Cancel lands mid-load however fast this machine reads (here
// the whole header reads in well under a second, and Cancel would race the end of
// the load). Nothing of the app is changed: the same reads, only later.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page, Worker } from 'playwright-core';
import { fixture } from '../helpers/fixtures.ts';
import { writePaddedGguf } from '../helpers/padded_gguf.ts';
import { haveChromium, openStudio, ROOT, startApp, type AppHarness } from './harness.ts';

const GGUF = fixture('models/stories260K.gguf');
const READ_DELAY_MS = 300;
const TIMEOUT_MS = 60_000;

function engineWorker(page: Page): Worker {
  const w = page.workers().find((x) => /engine/.test(x.url()));
  if (!w) throw new Error(`no engine worker among ${page.workers().map((x) => x.url()).join(', ') || 'none'}`);
  return w;
}

/** Make (ms > 0) or unmake (ms = 0) the worker's slow disk. */
function slowReads(page: Page, ms: number): Promise<void> {
  return engineWorker(page).evaluate((ms) => {
    const g = globalThis as unknown as { __read?: () => Promise<ArrayBuffer>; __reads: number };
    g.__read ??= Blob.prototype.arrayBuffer;
    g.__reads = 0;
    const read = g.__read;
    Blob.prototype.arrayBuffer = ms > 0 ? async function (this: Blob) { g.__reads++; await new Promise((r) => setTimeout(r, ms)); return read.call(this); } : read;
  }, ms);
}

/** Slices the worker has started to read since slowReads(). */
const readsSoFar = (page: Page) => engineWorker(page).evaluate(() => (globalThis as unknown as { __reads: number }).__reads);

const status = (page: Page) => page.getByTestId('model-status').textContent();

describe.skipIf(!haveChromium || !GGUF)('studio: the loading bar moves and Cancel stops a load', () => {
  let app: AppHarness;
  let page: Page;
  let tmp: string;
  let padded: string;
  let bytes = 0;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'sub4-cancel-'));
    padded = join(tmp, 'stories260K-padded.gguf');
    bytes = (await writePaddedGguf(GGUF!, padded, 24, 2 ** 20)).bytes;
    app = await startApp();
    page = await openStudio(app);
  });

  afterAll(async () => {
    await app?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('the bar rises while the header is read, and Cancel leaves no model open', async () => {
    await slowReads(page, READ_DELAY_MS);
    await page.getByTestId('pick-files').setInputFiles(padded);
    // Record every value the bar shows, from inside the page, until told to stop.
    await page.waitForSelector('[data-testid="model-progress-bar"]', { timeout: TIMEOUT_MS });
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { __bar: number[] }).__bar = seen;
      const tick = () => {
        const bar = document.querySelector('[data-testid="model-progress-bar"]');
        if (!bar) return;
        const v = Number(bar.getAttribute('aria-valuenow'));
        if (seen.at(-1) !== v) seen.push(v);
        requestAnimationFrame(tick);
      };
      tick();
    });
    // Two rises seen: the bar follows the reads.
    await page.waitForFunction(() => new Set((window as unknown as { __bar: number[] }).__bar.filter((v) => v > 0)).size >= 2, undefined, { timeout: TIMEOUT_MS, polling: 50 });
    const progressText = await page.getByTestId('model-progress').innerText();
    await page.getByTestId('model-cancel').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="model-status"]')?.textContent === 'cancelled', undefined, { timeout: TIMEOUT_MS, polling: 50 });
    const bar = await page.evaluate(() => (window as unknown as { __bar: number[] }).__bar);
    // The worker stopped reading too, not only the card: no new slice over the next five read times.
    const atCancel = await readsSoFar(page);
    await new Promise((r) => setTimeout(r, 5 * READ_DELAY_MS));
    const later = await readsSoFar(page);
    console.log(`padded GGUF ${bytes} bytes, ${READ_DELAY_MS} ms per read: the bar showed ${bar.join(' → ')} %; "${progressText}"; then Cancel; slices read ${atCancel}, ${5 * READ_DELAY_MS} ms later ${later}`);
    expect(later).toBe(atCancel);
    await page.screenshot({ path: join(ROOT, 'test-results/app-load-cancelled.png'), fullPage: true });

    for (let i = 1; i < bar.length; i++) expect(bar[i]).toBeGreaterThanOrEqual(bar[i - 1]);
    expect(bar.at(-1)).toBeLessThan(100);
    expect(progressText).toMatch(/reading the header… \([\d.]+ [kM]iB of [\d.]+ MiB read so far\)/);
    expect(await page.getByTestId('model-cancelled').innerText()).toMatch(/stories260K-padded\.gguf was cancelled; no model is open/);
    // Nothing to run a prompt on: the worker holds no model.
    expect(await page.getByTestId('generate').isDisabled()).toBe(true);
    expect(await status(page)).toBe('cancelled');
  });

  it('after a cancel, the next pick opens as usual', async () => {
    await slowReads(page, 0);
    await page.getByTestId('pick-files').setInputFiles(GGUF!);
    await page.waitForFunction(() => document.querySelector('[data-testid="model-status"]')?.textContent === 'ready', undefined, { timeout: TIMEOUT_MS, polling: 50 });
    expect(await page.getByTestId('model-name').innerText()).toBe('stories260K.gguf');
    expect(await page.getByTestId('generate').isDisabled()).toBe(false);
  });
});
