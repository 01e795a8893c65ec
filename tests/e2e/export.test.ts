// Exporting a trained run from the built app in Chromium (SwiftShader WebGPU):
// pick stories260K Q4_0 (GGUF), check that the start screen promises GGUF as an
// exact export for PEQA (and PEFT only for a LoRA method), drop a slice of Tiny
// Shakespeare, train PEQA a few steps on the file's own Q4_0 blocks, then:
//  - Export GGUF with no File System Access API (showDirectoryPicker removed):
//    the progress bar shows, the tuned GGUF (named after the model, method and
//    type: stories260K-q4_0-peqa-Q4_0.gguf) and README.md arrive as downloads; llama.cpp
//    (node-llama-cpp) loads it and scores a finite held-out perplexity that
//    differs from the untouched base's (the tune is in the file); the card names the method;
//  - Export GGUF into a folder (the origin-private file system stands in for a
//    picked folder: the same FileSystemDirectoryHandle API): the worker writes the
//    same GGUF, byte for byte.
// Screenshot: test-results/export-panel.png. The targets' abort paths are tested in
// tests/unit/export_target_browser.test.ts; the CLI's export in tests/cli/export_gguf.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Download, Page } from 'playwright-core';
import { fixture } from '../helpers/fixtures.ts';
import { refLogits, refModel, refTokenize } from '../helpers/llamacpp.ts';
import { perplexity, pplWindows } from '../helpers/perplexity.ts';
import { dropFile, haveChromium, openStudio, ROOT, startApp, type AppHarness } from './harness.ts';

const BASE = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');
/** The export is named after the model, the method and the base's block type. */
const MODEL = 'stories260K-q4_0-peqa-Q4_0.gguf';
const TEXT = fixture('data/tinyshakespeare/input.txt');
const SLICE_CHARS = 8_000;
const STEPS = 6;
const CTX = 64;
const WINDOWS = 4;
const RUN_TIMEOUT_MS = 180_000;

const attr = async (page: Page, testId: string, name: string) => (await page.getByTestId(testId).getAttribute(name)) ?? '';
const until = (page: Page, fn: string, timeout = RUN_TIMEOUT_MS) => page.waitForFunction(fn, undefined, { timeout, polling: 50 });
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function llamaCppPpl(path: string, text: string): Promise<number | null> {
  const ref = await refModel(path);
  if (!ref) return null;
  const wins = pplWindows(refTokenize(ref, text), ref.tokens.bos as number, CTX, WINDOWS);
  return (await perplexity(wins, (t) => refLogits(ref, t))).ppl;
}

/** Record in the page whether the export's progress bar was ever shown (an export of 260K parameters is quick). */
function watchProgress(page: Page): Promise<void> {
  return page.evaluate(() => {
    const w = window as unknown as { __sawProgress: boolean };
    w.__sawProgress = false;
    new MutationObserver((_, obs) => {
      if (document.querySelector('[data-testid="export-progress"]')) {
        w.__sawProgress = true;
        obs.disconnect();
      }
    }).observe(document.body, { childList: true, subtree: true });
  });
}

const exportDone = (before: number) =>
  `(() => { const j = document.querySelector('[data-testid="export-job"]'); return !!j && Number(j.getAttribute('data-job')) > ${before} && ['done', 'error', 'cancelled'].includes(j.getAttribute('data-status')); })()`;
const jobNumber = (page: Page) => page.evaluate(() => Number(document.querySelector('[data-testid="export-job"]')?.getAttribute('data-job') ?? 0));

describe.skipIf(!haveChromium || !BASE || !TEXT)('exporting a trained run in Chromium', () => {
  let app: AppHarness;
  let page: Page;
  let dir: string;
  let modelSha = '';

  beforeAll(async () => {
    app = await startApp();
    dir = await mkdtemp(join(tmpdir(), 'sub4-export-e2e-'));
    page = await openStudio(app);
  });

  afterAll(async () => {
    await app?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('before training, the chosen settings say which formats export exactly', async () => {
    await page.getByTestId('pick-files').setInputFiles(BASE!);
    await until(page, `document.querySelector('[data-testid="model-status"]')?.textContent === 'ready'`, 60_000);
    const slice = readFileSync(TEXT!, 'utf8').slice(0, SLICE_CHARS);
    await dropFile(page, '[data-testid="train-data-drop"]', 'shakespeare.txt', slice, 'text/plain');
    await page.getByTestId('train-preset-peqa4').click();
    // PEQA on the file's own Q4_0 blocks: GGUF exact, no adapter formats, no GPTQ (not a Hugging Face folder).
    const exact = async () =>
      Object.fromEntries(await Promise.all(['gguf', 'gguf-lora', 'peft', 'gptq'].map(async (f) => [f, await attr(page, `export-hint-${f}`, 'data-exact')])));
    expect(await exact()).toEqual({ gguf: 'true', 'gguf-lora': 'false', peft: 'false', gptq: 'false' });
    expect(await page.getByTestId('export-hint-gguf').getAttribute('title')).toContain('Q4_0');
    // The hint follows the settings: LoRA on the same base exports as adapters (GGUF only with its adapter).
    await page.locator('[data-testid="train-advanced"] > summary').click();
    await page.getByTestId('train-method').selectOption('lora');
    expect(await exact()).toEqual({ gguf: 'false', 'gguf-lora': 'true', peft: 'true', gptq: 'false' }); // a lone GGUF would lack the LoRA factors
    console.log(`planned exports (LoRA): ${(await page.getByTestId('export-hint').innerText()).replace(/\s+/g, ' ')}`);
    await page.getByTestId('export-hint').screenshot({ path: join(ROOT, 'test-results/export-hint.png') });
    await page.getByTestId('train-preset-peqa4').click();
    expect(await attr(page, 'export-hint-peft', 'data-exact')).toBe('false');
  });

  it(`trains PEQA ${STEPS} steps; Export GGUF downloads the tuned GGUF that llama.cpp loads and scores`, async () => {
    for (const [id, v] of [['train-steps', STEPS], ['train-seq', 32], ['train-batch', 2], ['train-eval-windows', 2], ['train-sample-tokens', 4]] as const)
      await page.getByTestId(id).fill(String(v));
    await until(page, `document.querySelector('[data-testid="train-data-counts"]')?.textContent.includes('windows of 32 tokens')`, 30_000);
    await until(page, `!document.querySelector('[data-testid="train-start"]')?.disabled`, 30_000);
    expect(await page.getByTestId('export-panel').count()).toBe(0); // shown once a run has finished
    await page.getByTestId('train-start').click();
    await until(page, `['done', 'stopped', 'error'].includes(document.querySelector('[data-testid="train-status"]')?.textContent)`);
    expect(await page.getByTestId('train-status').textContent()).toBe('done');

    await until(page, `['ready', 'error'].includes(document.querySelector('[data-testid="export-panel"]')?.getAttribute('data-choices'))`, 60_000);
    expect(await attr(page, 'export-panel', 'data-choices')).toBe('ready');
    expect(await page.getByTestId('export-gguf').isDisabled()).toBe(false);
    for (const f of ['gguf-lora', 'peft', 'gptq', 'mlx']) expect(await page.getByTestId(`export-${f}`).isDisabled(), f).toBe(true);
    expect(await page.getByTestId('export-peft-detail').innerText()).toMatch(/not available: this run trained no LoRA factors/);
    expect(await page.getByTestId('export-gptq-detail').innerText()).toMatch(/not available: GPTQ needs a Hugging Face base folder/);

    // No File System Access API: every file must come as a download, one at a time.
    await page.evaluate(() => {
      delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker;
      delete (Window.prototype as { showDirectoryPicker?: unknown }).showDirectoryPicker;
    });
    expect(await page.evaluate(() => typeof (window as { showDirectoryPicker?: unknown }).showDirectoryPicker)).toBe('undefined');
    const downloads: Download[] = [];
    page.on('download', (d) => downloads.push(d));
    await watchProgress(page);
    const t0 = Date.now();
    const before = await jobNumber(page);
    await page.getByTestId('export-gguf').click();
    await until(page, exportDone(before), 120_000);
    await expect.poll(() => downloads.length, { timeout: 30_000 }).toBe(2);
    const seconds = (Date.now() - t0) / 1000;
    await page.getByTestId('export-panel').screenshot({ path: join(ROOT, 'test-results/export-panel.png') });

    expect(await attr(page, 'export-job', 'data-status')).toBe('done');
    expect(await page.evaluate(() => (window as unknown as { __sawProgress: boolean }).__sawProgress)).toBe(true);
    expect(downloads.map((d) => d.suggestedFilename())).toEqual([MODEL, 'README.md']);
    for (const d of downloads) await d.saveAs(join(dir, d.suggestedFilename()));
    const listed = await page.locator('[data-testid="export-files"] tr').evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-name'), Number(r.getAttribute('data-bytes'))]));
    const model = await readFile(join(dir, MODEL));
    const readme = await readFile(join(dir, 'README.md'), 'utf8');
    // The list shows what was saved, with the saved sizes.
    expect(listed).toEqual([[MODEL, model.length], ['README.md', Buffer.byteLength(readme)]]);
    expect(readme).toContain('peqa');
    expect(readme).toContain('shakespeare.txt');
    const base = await readFile(BASE!);
    modelSha = sha256(model);
    expect(modelSha).not.toBe(sha256(base)); // tuned scales were written

    const heldOut = readFileSync(TEXT!, 'utf8').slice(-20_000);
    const exported = await llamaCppPpl(join(dir, MODEL), heldOut);
    const original = await llamaCppPpl(BASE!, heldOut);
    console.log(
      `export: ${listed.map(([n, b]) => `${n} ${b} B`).join(', ')} in ${seconds.toFixed(1)} s; llama.cpp held-out perplexity ` +
        `${exported?.toFixed(4)} on the export vs ${original?.toFixed(4)} on the base; notes: ${JSON.stringify(await page.getByTestId('export-job').innerText())}`,
    );
    if (exported === null) return; // node-llama-cpp unavailable: printed by the helper
    expect(Number.isFinite(exported)).toBe(true);
    expect(exported).toBeGreaterThan(1);
    expect(exported).not.toBe(original);
  });

  it('Export GGUF into a folder (the File System Access path) writes the same tuned GGUF', async () => {
    // The origin-private file system hands out the same FileSystemDirectoryHandle a picked folder is.
    await page.evaluate(async () => {
      const root = await navigator.storage.getDirectory();
      for await (const name of (root as unknown as { keys(): AsyncIterable<string> }).keys()) await root.removeEntry(name, { recursive: true });
      (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = () => navigator.storage.getDirectory();
    });
    const before = await jobNumber(page);
    await page.getByTestId('export-gguf').click();
    await until(page, exportDone(before), 120_000);
    expect(await attr(page, 'export-job', 'data-status')).toBe('done');
    const inFolder = await page.evaluate(async () => {
      const root = await navigator.storage.getDirectory();
      const out: Record<string, string> = {};
      for await (const name of (root as unknown as { keys(): AsyncIterable<string> }).keys()) {
        const bytes = new Uint8Array(await (await (await root.getFileHandle(name)).getFile()).arrayBuffer());
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
        out[name] = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
      }
      return out;
    });
    console.log(`folder export: ${JSON.stringify(inFolder)}`);
    expect(Object.keys(inFolder).sort()).toEqual(['README.md', MODEL]);
    expect(inFolder[MODEL]).toBe(modelSha);
    expect(await page.locator('[data-testid="export-files"] tr a').count()).toBe(0); // nothing to download again
  });
});
