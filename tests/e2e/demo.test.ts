// The built-in demo in Chromium (SwiftShader WebGPU), as a newcomer meets it:
// the production build carries public/demo/; one click on "Try the demo" fetches
// stories260K Q4_0 and the Shakespeare text from the page's own origin, loads,
// reads and trains (PEQA, 60 steps), shows the samples before and after, and
// Export GGUF downloads a model.gguf that llama.cpp (node-llama-cpp) loads and
// scores. Every request the page makes stays on its origin. The whole flow's
// time, download included, is printed (a figure, not a test: timing lives in
// benchmarks).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Download, Page } from 'playwright-core';
import { refLogits, refModel, refTokenize } from '../helpers/llamacpp.ts';
import { perplexity, pplWindows } from '../helpers/perplexity.ts';
import { haveChromium, openStudio, ROOT, startApp, type AppHarness } from './harness.ts';

const until = (page: Page, fn: string, timeout: number) => page.waitForFunction(fn, undefined, { timeout, polling: 100 });

describe.skipIf(!haveChromium)('the built-in demo', () => {
  let app: AppHarness;
  let page: Page;
  let dir: string;
  const requests: string[] = [];

  beforeAll(async () => {
    app = await startApp();
    dir = await mkdtemp(join(tmpdir(), 'sub4-demo-e2e-'));
    page = await openStudio(app);
    page.on('request', (r) => requests.push(r.url()));
  });

  afterAll(async () => {
    await app?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the production build ships the demo files', () => {
    for (const f of ['demo/stories260K-q4_0.gguf', 'demo/shakespeare-40k.txt']) {
      const built = join(app.outDir, f);
      expect(existsSync(built), f).toBe(true);
      expect(statSync(built).size).toBe(statSync(join(ROOT, 'public', f)).size);
    }
  });

  it('one click trains stories260K on Shakespeare; Export GGUF downloads a model llama.cpp loads', { timeout: 300_000 }, async () => {
    expect(await page.getByTestId('demo-status').getAttribute('data-step')).toBe('idle');
    await page.evaluate(() => {
      delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker;
      delete (Window.prototype as { showDirectoryPicker?: unknown }).showDirectoryPicker;
    });
    const t0 = Date.now();
    await page.getByTestId('demo-start').click();
    await until(page, `['done', 'error'].includes(document.querySelector('[data-testid="demo-status"]')?.getAttribute('data-step'))`, 240_000);
    const trained = (Date.now() - t0) / 1000;
    expect(await page.getByTestId('demo-status').getAttribute('data-step'), await page.getByTestId('demo').innerText()).toBe('done');
    expect(await page.getByTestId('model-status').textContent()).toBe('ready');
    expect(await page.getByTestId('train-status').textContent()).toBe('done');
    expect(await page.getByTestId('train-result').getAttribute('data-steps')).toBe('60');
    const before = await page.getByTestId('sample-before').innerText();
    const after = await page.getByTestId('sample-after').innerText();
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    const evalCell = page.getByTestId('train-eval');
    const lossBefore = Number(await evalCell.getAttribute('data-before'));
    const lossAfter = Number(await evalCell.getAttribute('data-after'));
    expect(lossAfter).toBeLessThan(lossBefore); // 60 steps on the plays lower their held-out loss

    await until(page, `document.querySelector('[data-testid="export-panel"]')?.getAttribute('data-choices') === 'ready'`, 60_000);
    const downloads: Download[] = [];
    page.on('download', (d) => downloads.push(d));
    await page.getByTestId('export-gguf').click();
    await expect.poll(() => downloads.length, { timeout: 60_000 }).toBe(2);
    const total = (Date.now() - t0) / 1000;
    const gguf = downloads.find((d) => d.suggestedFilename().endsWith('.gguf'))!;
    const path = join(dir, gguf.suggestedFilename());
    await gguf.saveAs(path);
    await page.screenshot({ path: join(ROOT, 'test-results/demo.png'), fullPage: true });

    const text = readFileSync(join(ROOT, 'public/demo/shakespeare-40k.txt'), 'utf8');
    const ref = await refModel(path);
    let ppl: number | null = null;
    if (ref) ppl = (await perplexity(pplWindows(refTokenize(ref, text.slice(-12_000)), ref.tokens.bos as number, 64, 4), (t) => refLogits(ref, t))).ppl;
    console.log(
      `demo: trained in ${trained.toFixed(1)} s after the click, GGUF downloaded at ${total.toFixed(1)} s; held-out loss ${lossBefore.toFixed(4)} → ${lossAfter.toFixed(4)}; ` +
        `llama.cpp perplexity of the download ${ppl?.toFixed(3)}\n  before: ${JSON.stringify(before)}\n  after:  ${JSON.stringify(after)}`,
    );
    if (ppl !== null) expect(Number.isFinite(ppl) && ppl > 1).toBe(true);

    const origin = new URL(app.url).origin;
    const away = requests.filter((u) => !u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:'));
    expect(away).toEqual([]);
  });
});
