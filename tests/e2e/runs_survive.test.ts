// Runs that survive, in the built app in Chromium (SwiftShader WebGPU), on
// stories260K Q4_0 (PEQA on the file's own Q4_0 scales) and a slice of Tiny
// Shakespeare:
//   1. an uninterrupted run: its final held-out loss and exported GGUF are the reference;
//   2. a run reloaded mid-run: after the reload the Saved runs list offers "Resume PEQA on
//      stories260K-q4_0.gguf, step N of 16"; another model is refused by identity; the same
//      files (asked for again: setInputFiles and drops carry no FileSystemFileHandle) resume it
//      with one click, and it ends with the reference's held-out loss (within 1e-5) and the
//      same GGUF bytes, which llama.cpp loads;
//   3. the finished run opened again after a reload exports the same GGUF;
//   4. the GPU device destroyed mid-run: the worker goes on on a new device, at most one step
//      repeated, same result; then Generate with the tuned model;
//   4b. with no step cadence, Stop, a hidden tab and Pause each write a checkpoint; a stopped run
//      resumes from the list, and is deleted from it;
//   4c. files opened through the browser's picker (stubbed with OPFS handles) are kept in IndexedDB:
//      after a reload, Resume opens them itself, and the run ends with the reference's held-out loss;
//   5. every request the page made over all of this (load, tune, generate, export) went to the
//      page's own origin, and the recorder does see a request elsewhere when one is made.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Download, Page, Request } from 'playwright-core';
import { fixture } from '../helpers/fixtures.ts';
import { refModel } from '../helpers/llamacpp.ts';
import { dropFile, finalSelftestStatus, haveChromium, startApp, WEBGPU_ON, type AppHarness } from './harness.ts';

const Q4 = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');
const F32 = fixture('models/stories260K.gguf');
const TEXT = fixture('data/tinyshakespeare/input.txt');
/** Long enough that a reload after the second checkpoint comes well before the run's end. */
const STEPS = 16;
const EVERY = 2;
const RUN_TIMEOUT_MS = 180_000;

const until = (page: Page, fn: string, timeout = RUN_TIMEOUT_MS) => page.waitForFunction(fn, undefined, { timeout, polling: 50 });
const attr = async (page: Page, testId: string, name: string) => (await page.getByTestId(testId).first().getAttribute(name)) ?? '';
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const statusIs = (...w: string[]) => `${JSON.stringify(w)}.includes(document.querySelector('[data-testid="train-status"]')?.textContent ?? '')`;
const stepShown = `Number(document.querySelector('[data-testid="train-step"]')?.getAttribute('data-value') ?? 0)`;

describe.skipIf(!haveChromium || !Q4 || !F32 || !TEXT)('runs that survive a reload and a lost device, and nothing leaves the machine', () => {
  let app: AppHarness;
  let page: Page;
  const requests: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'sub4-survive-'));
  const slice = () => readFileSync(TEXT!, 'utf8').slice(0, 8_000);
  const ref = { evalAfter: Number.NaN, gguf: '' };

  /** The model picked and ready, the data dropped and read, the settings typed (ignored by a resume). */
  async function modelAndData(model = Q4!): Promise<void> {
    await page.getByTestId('pick-files').setInputFiles(model);
    await until(page, `document.querySelector('[data-testid="model-status"]')?.textContent === 'ready'`, 60_000);
    await dropFile(page, '[data-testid="train-data-drop"]', 'shakespeare.txt', slice(), 'text/plain');
    await settings();
  }

  async function settings(): Promise<void> {
    const adv = page.locator('[data-testid="train-advanced"]');
    if ((await adv.getAttribute('open')) === null) await adv.locator('> summary').click();
    await page.getByTestId('train-bits').selectOption('file');
    for (const [id, v] of [['train-steps', STEPS], ['train-seq', 32], ['train-batch', 2], ['train-eval-windows', 2], ['train-sample-tokens', 4], ['train-checkpoint-every', EVERY]] as const)
      await page.getByTestId(id).fill(String(v));
    await until(page, `document.querySelector('[data-testid="train-data-counts"]')?.textContent.includes('windows of 32 tokens')`, 30_000);
  }

  async function reload(): Promise<void> {
    await page.reload();
    await finalSelftestStatus(page);
  }

  /** Export GGUF as downloads (no folder picker); the model's bytes. */
  async function exportGguf(name: string): Promise<Buffer> {
    await until(page, `document.querySelector('[data-testid="export-panel"]')?.getAttribute('data-choices') === 'ready'`, 60_000);
    await page.evaluate(() => {
      delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker;
      delete (Window.prototype as { showDirectoryPicker?: unknown }).showDirectoryPicker;
    });
    const downloads: Download[] = [];
    const onDownload = (d: Download) => downloads.push(d);
    page.on('download', onDownload);
    const job = await page.evaluate(() => Number(document.querySelector('[data-testid="export-job"]')?.getAttribute('data-job') ?? 0));
    await page.getByTestId('export-gguf').click();
    await until(page, `(() => { const j = document.querySelector('[data-testid="export-job"]'); return !!j && Number(j.getAttribute('data-job')) > ${job} && ['done', 'error', 'cancelled'].includes(j.getAttribute('data-status')); })()`, 120_000);
    expect(await attr(page, 'export-job', 'data-status')).toBe('done');
    await expect.poll(() => downloads.length, { timeout: 30_000 }).toBe(2);
    page.off('download', onDownload);
    const gguf = downloads.find((d) => d.suggestedFilename().endsWith('.gguf'))!;
    const path = join(dir, `${name}.gguf`);
    await gguf.saveAs(path);
    return readFile(path);
  }

  const evalAfter = async () => Number(await attr(page, 'train-eval', 'data-after'));

  beforeAll(async () => {
    app = await startApp();
    const { browser, page: p } = await app.launch(WEBGPU_ON);
    page = p;
    // The whole browser context: the page, its engine worker, downloads.
    browser.on('request', (r: Request) => void requests.push(r.url()));
    await page.goto(app.url);
    await finalSelftestStatus(page);
  });

  afterAll(async () => {
    await app?.close();
  });

  it(`an uninterrupted run of ${STEPS} steps (the reference), saved as a finished run`, async () => {
    await modelAndData();
    await page.getByTestId('train-start').click();
    await until(page, statusIs('done', 'stopped', 'error'));
    expect(await page.getByTestId('train-status').textContent()).toBe('done');
    // Checkpoints every EVERY steps: the last one is at the end.
    expect(await attr(page, 'train-checkpoint', 'data-step')).toBe(String(STEPS));
    ref.evalAfter = await evalAfter();
    expect(Number.isFinite(ref.evalAfter)).toBe(true);
    ref.gguf = sha256(await exportGguf('uninterrupted'));
  });

  it('a reload mid-run leaves "Resume PEQA …, step N of 16"; another model is refused; the same files resume it to the same result', async () => {
    await page.getByTestId('train-start').click();
    await until(page, `Number(document.querySelector('[data-testid="train-checkpoint"]')?.getAttribute('data-step') || 0) >= ${EVERY * 2}`);
    const savedAt = Number(await attr(page, 'train-checkpoint', 'data-step'));
    expect(savedAt).toBeLessThan(STEPS);
    await reload();

    await until(page, `document.querySelector('[data-testid="saved-runs"]')?.getAttribute('data-status') === 'ready'`, 30_000);
    const rows = page.locator('[data-testid="saved-run"]');
    const unfinished = page.locator(`[data-testid="saved-run"][data-total="${STEPS}"]:not([data-step="${STEPS}"])`);
    console.log(`saved runs after the reload: ${JSON.stringify(await rows.evaluateAll((els) => els.map((e) => [e.getAttribute('data-step'), e.getAttribute('data-total'), e.textContent])))}`);
    expect(await unfinished.count()).toBe(1);
    expect(await rows.count()).toBe(2); // and the finished reference run
    const label = await unfinished.getByTestId('saved-run-resume').innerText();
    expect(label).toMatch(new RegExp(`^Resume PEQA on stories260K-q4_0\\.gguf, step (\\d+) of ${STEPS}$`));
    const step = Number(await unfinished.getAttribute('data-step'));
    expect(step).toBeGreaterThanOrEqual(savedAt); // a later checkpoint may have landed before the reload
    expect(await unfinished.getByTestId('saved-run-resume').isDisabled()).toBe(true); // no model and data yet

    // The F32 stories260K is another model: the checkpoint is refused, nothing trains.
    await modelAndData(F32!);
    await unfinished.getByTestId('saved-run-resume').click();
    await until(page, statusIs('error', 'done'));
    expect(await page.getByTestId('train-status').textContent()).toBe('error');
    const refused = await page.locator('.train-run').innerText();
    expect(refused).toContain('CheckpointMismatchError');
    expect(refused).toMatch(/stories260K\.gguf .* is a different model/);

    await modelAndData(Q4!);
    await unfinished.getByTestId('saved-run-resume').click();
    await until(page, statusIs('done', 'stopped', 'error'));
    expect(await page.getByTestId('train-status').textContent()).toBe('done');
    expect(await attr(page, 'train-checkpoint', 'data-resumed-from')).toBe(String(step));
    expect(Number(await attr(page, 'train-result', 'data-steps'))).toBe(STEPS);
    const resumed = await evalAfter();
    console.log(`reload: resumed from step ${step}; held-out loss ${resumed} vs ${ref.evalAfter} uninterrupted`);
    expect(Math.abs(resumed - ref.evalAfter)).toBeLessThanOrEqual(1e-5);

    const gguf = await exportGguf('resumed');
    expect(sha256(gguf)).toBe(ref.gguf);
    const loaded = await refModel(join(dir, 'resumed.gguf'));
    if (loaded) expect(loaded.trainContextSize).toBeGreaterThan(0); // llama.cpp opened it (null: node-llama-cpp unavailable, said by the helper)
  });

  it('a finished run opens again after a reload and exports the same GGUF', async () => {
    await reload();
    await modelAndData();
    const finished = page.locator(`[data-testid="saved-run"][data-step="${STEPS}"]`).first();
    expect(await finished.getByTestId('saved-run-resume').innerText()).toMatch(/^Open PEQA on stories260K-q4_0\.gguf, finished/);
    await finished.getByTestId('saved-run-resume').click();
    await until(page, statusIs('done', 'stopped', 'error'));
    expect(await page.getByTestId('train-status').textContent()).toBe('done');
    expect(Math.abs((await evalAfter()) - ref.evalAfter)).toBeLessThanOrEqual(1e-5);
    expect(sha256(await exportGguf('reopened'))).toBe(ref.gguf);
  });

  it('the GPU device destroyed mid-run: a new device, at most one step repeated, the same result; then Generate', async () => {
    await page.getByTestId('train-start').click();
    await until(page, `${stepShown} >= 3`);
    const worker = page.workers().find((w) => w.url().includes('engine'));
    expect(worker, 'the engine worker').toBeDefined();
    const seenBefore = Number(await attr(page, 'train-step', 'data-value'));
    expect(await worker!.evaluate(() => (self as unknown as { sub4LoseDevice(): Promise<boolean> }).sub4LoseDevice())).toBe(true);
    await until(page, statusIs('done', 'stopped', 'error'));
    const notes = await page.getByTestId('train-note').allInnerTexts();
    console.log(`device loss: ${notes.join(' | ')} / ${await page.locator('.train-run').innerText()}`);
    expect(await page.getByTestId('train-status').textContent()).toBe('done');
    const from = notes.map((n) => /continuing on a new device from step (\d+)/.exec(n)).find(Boolean);
    expect(from, 'a note says where the run went on').toBeTruthy();
    // Steps finished before the loss that were done again: at most the one in flight (the others were kept).
    expect(seenBefore - Number(from![1])).toBeLessThanOrEqual(1);
    expect(Number(await attr(page, 'train-result', 'data-steps'))).toBe(STEPS);
    expect(Math.abs((await evalAfter()) - ref.evalAfter)).toBeLessThanOrEqual(1e-5);
    expect(sha256(await exportGguf('recovered'))).toBe(ref.gguf);

    expect(await page.getByTestId('generate-model').inputValue()).toBe('tuned');
    await page.getByTestId('prompt').fill('Once upon a time');
    await page.getByTestId('max-tokens').fill('8');
    await page.getByTestId('temperature').fill('0');
    await page.getByTestId('generate').click();
    await until(page, `document.querySelector('[data-testid="generate-status"]')?.textContent === 'done'`);
    expect((await page.getByTestId('generate-output').textContent())!.length).toBeGreaterThan(0);
  });

  it('with no step cadence, Stop, a hidden tab and Pause each write a checkpoint; a stopped run resumes from the list and can be deleted', async () => {
    await page.getByTestId('train-checkpoint-every').fill('0');
    expect(await page.getByTestId('train-checkpoint-hint').innerText()).toContain('only at Pause, Stop, when the tab is hidden and at the end');
    const checkpointAt = `Number(document.querySelector('[data-testid="train-checkpoint"]')?.getAttribute('data-step') || 0)`;

    // Stop: the only checkpoint of this run is the one Stop wrote.
    await page.getByTestId('train-start').click();
    await until(page, `${stepShown} >= 2`);
    expect(await page.getByTestId('train-checkpoint').count()).toBe(0); // none due by steps
    await page.getByTestId('train-stop').click();
    await until(page, statusIs('stopped', 'done', 'error'));
    expect(await page.getByTestId('train-status').textContent()).toBe('stopped');
    const stoppedAt = Number(await attr(page, 'train-result', 'data-steps'));
    expect(stoppedAt).toBeLessThan(STEPS);
    expect(await attr(page, 'train-checkpoint', 'data-step')).toBe(String(stoppedAt));

    // A stopped run is unfinished: it resumes from the list (with its own settings: still no cadence).
    const row = page.locator(`[data-testid="saved-run"][data-step="${stoppedAt}"][data-total="${STEPS}"]`);
    await expect.poll(() => row.count()).toBe(1);
    await row.getByTestId('saved-run-resume').click();
    await until(page, `${stepShown} >= ${stoppedAt + 1}`);
    // The tab goes to the background (Playwright cannot hide a headless tab: the event is what the page listens to).
    await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await until(page, `${checkpointAt} > ${stoppedAt}`);
    await page.evaluate(() => Object.defineProperty(document, 'visibilityState', { value: 'visible', configurable: true }));

    await page.getByTestId('train-pause').click();
    await until(page, statusIs('paused'), 60_000);
    const heldAt = Number(await attr(page, 'train-step', 'data-value'));
    await until(page, `${checkpointAt} === ${heldAt}`, 30_000);
    await page.getByTestId('train-stop').click(); // Stop also ends a pause
    await until(page, statusIs('stopped', 'done', 'error'));
    expect(await page.getByTestId('train-status').textContent()).toBe('stopped');
    expect(Number(await attr(page, 'train-result', 'data-steps'))).toBe(heldAt);

    const again = page.locator(`[data-testid="saved-run"][data-step="${heldAt}"][data-total="${STEPS}"]`);
    await expect.poll(() => again.count()).toBe(1);
    const before = await page.getByTestId('saved-run').count();
    await again.getByTestId('saved-run-delete').click();
    await expect.poll(() => page.getByTestId('saved-run').count()).toBe(before - 1);
    expect(await again.count()).toBe(0);
    expect(Number(await attr(page, 'saved-runs-storage', 'data-quota'))).toBeGreaterThan(0);
    await page.getByTestId('train-checkpoint-every').fill(String(EVERY));
  });

  it('files opened through the browser\'s picker are remembered: after a reload, Resume opens them itself', async () => {
    await reload();
    // Playwright cannot drive the OS file picker: it is stubbed with OPFS files' handles, the same
    // FileSystemFileHandle a picked file gives (IndexedDB keeps them alike). The stub is gone after the reload below.
    await page.evaluate(
      async ({ model, text }) => {
        const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('picked', { create: true });
        const put = async (name: string, data: Uint8Array | string) => {
          const h = await dir.getFileHandle(name, { create: true });
          const w = await h.createWritable();
          await w.write(data as Uint8Array<ArrayBuffer>);
          await w.close();
          return h;
        };
        const handles: Record<string, FileSystemFileHandle> = { 'sub4-model': await put('stories260K-q4_0.gguf', new Uint8Array(model)), 'sub4-data': await put('shakespeare.txt', text) };
        (window as unknown as { showOpenFilePicker(o: { id: string }): Promise<FileSystemFileHandle[]> }).showOpenFilePicker = async (o) => [handles[o.id]];
      },
      { model: [...readFileSync(Q4!)], text: slice() },
    );
    await page.getByTestId('open-model-file').click();
    await until(page, `document.querySelector('[data-testid="model-status"]')?.textContent === 'ready'`, 60_000);
    await page.getByTestId('open-train-data').click();
    await settings();
    await page.getByTestId('train-start').click();
    await until(page, `Number(document.querySelector('[data-testid="train-checkpoint"]')?.getAttribute('data-step') || 0) >= ${EVERY * 2}`);
    await reload();

    await until(page, `document.querySelector('[data-testid="saved-runs"]')?.getAttribute('data-status') === 'ready'`, 30_000);
    const row = page.locator(`[data-testid="saved-run"][data-files="kept"][data-total="${STEPS}"]:not([data-step="${STEPS}"])`);
    expect(await row.count()).toBe(1);
    const step = Number(await row.getAttribute('data-step'));
    expect(await page.evaluate(() => document.querySelector('[data-testid="model-status"]')?.textContent ?? 'none')).not.toBe('ready'); // no model open
    expect(await row.getByTestId('saved-run-resume').isDisabled()).toBe(false);
    await row.getByTestId('saved-run-resume').click();
    await until(page, statusIs('done', 'stopped', 'error'));
    expect(await page.getByTestId('train-status').textContent()).toBe('done');
    expect(await page.getByTestId('train-data-file').textContent()).toBe('shakespeare.txt');
    expect(await attr(page, 'train-checkpoint', 'data-resumed-from')).toBe(String(step));
    expect(Math.abs((await evalAfter()) - ref.evalAfter)).toBeLessThanOrEqual(1e-5);
  });

  it('every request over load, tune, generate and export went to the page\'s own origin', async () => {
    const origin = new URL(app.url).origin;
    const elsewhere = requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('blob:') && !u.startsWith('data:'));
    console.log(`requests: ${requests.length}, ${new Set(requests.map((u) => new URL(u).origin)).size} origin(s)`);
    expect(requests.some((u) => u.startsWith(`${origin}/assets/`))).toBe(true); // the recorder saw the app load
    expect(elsewhere).toEqual([]);
    // The recorder does see a request to another origin (so the assertion above can fail).
    await page.evaluate(() => fetch('https://example.invalid/ping').catch(() => null));
    await expect.poll(() => requests.some((u) => u.startsWith('https://example.invalid/'))).toBe(true);
  });
});
