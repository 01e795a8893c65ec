// Loading a model in the built app in Chromium: pick stories260K.gguf with the
// files picker and the stories260K folder with the folder picker and read the
// model card; pick a truncated .gguf (and drop one) and read the typed error;
// and check the page's own thread stays responsive while the worker loads.
// Screenshots: test-results/app-model-card.png, test-results/app-model-error.png.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { fixture } from '../helpers/fixtures.ts';
import { dropFile, haveChromium, openStudio, ROOT, startApp, type AppHarness } from './harness.ts';

const GGUF = fixture('models/stories260K.gguf');
const FOLDER = fixture('models/stories260K');
const LOAD_TIMEOUT_MS = 30_000;
/** A page that answers slower than this feels stuck; the worker must keep the page under it. */
const RESPONSIVE_MS = 200;

/** The card's load number and status, read in one step. */
function cardState(page: Page): Promise<{ loadId: number; status: string }> {
  return page.evaluate(() => ({
    loadId: Number(document.querySelector('[data-testid="model-card"]')?.getAttribute('data-load-id')),
    status: document.querySelector('[data-testid="model-status"]')?.textContent ?? '',
  }));
}

/** Run `act` (a pick or a drop), wait until the card shows the outcome of the load it started, return ready or error. */
async function loadVia(page: Page, act: () => Promise<unknown>): Promise<string> {
  const before = (await cardState(page)).loadId;
  await act();
  // The previous card says ready or error too, so wait for a newer load number first.
  await page.waitForFunction(
    (n) =>
      Number(document.querySelector('[data-testid="model-card"]')?.getAttribute('data-load-id')) > n &&
      /^(ready|error)$/.test(document.querySelector('[data-testid="model-status"]')?.textContent ?? ''),
    before,
    { timeout: LOAD_TIMEOUT_MS, polling: 20 },
  );
  return (await cardState(page)).status;
}

const cell = (page: Page, id: string) => page.getByTestId(id).innerText();

/** Rows of the tensor-type table as "TYPE tensors". */
async function tensorTypes(page: Page): Promise<string[]> {
  const rows = await page.getByTestId('tensor-types').locator('tbody tr').allInnerTexts();
  return rows.map((r) => r.split('\t').slice(0, 2).join(' ').trim());
}

/**
 * Watch the page's main thread from inside: timer gaps, long tasks, and every
 * status the card shows. Read back with readProbe().
 */
function installProbe(page: Page): Promise<void> {
  return page.evaluate(() => {
    const probe = { maxGap: 0, longTasks: [] as number[], statuses: [] as string[], last: performance.now(), timer: 0 };
    (window as unknown as { __probe: typeof probe }).__probe = probe;
    probe.timer = window.setInterval(() => {
      const now = performance.now();
      probe.maxGap = Math.max(probe.maxGap, now - probe.last);
      probe.last = now;
    }, 10);
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) probe.longTasks.push(Math.round(e.duration));
    }).observe({ type: 'longtask' });
    const status = document.querySelector('[data-testid="model-status"]')!;
    new MutationObserver(() => {
      const t = status.textContent ?? '';
      if (probe.statuses.at(-1) !== t) probe.statuses.push(t);
    }).observe(status, { childList: true, characterData: true, subtree: true });
  });
}

function readProbe(page: Page): Promise<{ maxGap: number; longTasks: number[]; statuses: string[] }> {
  return page.evaluate(() => {
    const p = (window as unknown as { __probe: { maxGap: number; longTasks: number[]; statuses: string[]; timer: number } }).__probe;
    clearInterval(p.timer);
    return { maxGap: Math.round(p.maxGap), longTasks: p.longTasks, statuses: p.statuses };
  });
}

describe.skipIf(!haveChromium)('model card in Chromium', () => {
  let app: AppHarness;
  let page: Page;
  let tmp = '';

  beforeAll(async () => {
    app = await startApp();
    tmp = await mkdtemp(join(tmpdir(), 'sub4-model-e2e-'));
    page = await openStudio(app);
  });

  afterAll(async () => {
    await app?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it.skipIf(!GGUF)('a picked .gguf shows its card, and the page answers within 200 ms while it loads', async () => {
    await installProbe(page);
    const before = (await cardState(page)).loadId;
    const t0 = Date.now();
    // Round trips to the page's thread from outside, back to back from before the pick
    // until the card shows the outcome, so some of them overlap the load.
    const rtts: number[] = [];
    let whileLoading = 0;
    const probing = (async () => {
      for (;;) {
        const t = Date.now();
        const card = await cardState(page);
        rtts.push(Date.now() - t);
        if (card.status === 'loading') whileLoading++;
        if (card.loadId > before && (card.status === 'ready' || card.status === 'error')) return;
        if (Date.now() - t0 > LOAD_TIMEOUT_MS) throw new Error(`the model was still ${card.status} after ${LOAD_TIMEOUT_MS} ms`);
      }
    })();
    await page.getByTestId('pick-files').setInputFiles(GGUF!);
    await probing;
    const loadMs = Date.now() - t0;
    const probe = await readProbe(page);
    console.log(
      `GGUF load: ${loadMs} ms from pick to card; ${rtts.length} page round trips (${whileLoading} answered 'loading'), slowest ${Math.max(...rtts)} ms; ` +
        `largest timer gap ${probe.maxGap} ms; long tasks ${JSON.stringify(probe.longTasks)}; statuses ${probe.statuses.join(' → ')}`,
    );
    expect(probe.statuses).toEqual(['loading', 'ready']);
    // The page's own thread must never block: no long task of 200 ms or more. Timer gaps and
    // round trips are only logged: on SwiftShader the GPU work of the worker shares the same
    // two CPU cores, so they measure machine load as much as the page (seen 150–400 ms in CI-like runs).
    expect(probe.longTasks.filter((d) => d >= RESPONSIVE_MS)).toEqual([]);

    await page.screenshot({ path: join(ROOT, 'test-results/app-model-card.png'), fullPage: true });
    console.log(`model card as shown:\n${await page.getByTestId('model-card').innerText()}`);
    expect(await cell(page, 'model-name')).toBe('stories260K.gguf');
    expect(await cell(page, 'model-format')).toBe('GGUF');
    expect(await cell(page, 'model-architecture')).toBe('llama');
    expect(await cell(page, 'model-layers')).toBe('5');
    expect(await cell(page, 'model-hidden')).toBe('64');
    expect(await cell(page, 'model-vocab')).toBe('512');
    expect(await cell(page, 'model-bpw')).toBe('32.00');
    expect(await cell(page, 'model-tokenizer')).toBe('gguf-llama, vocab 512');
    expect(await tensorTypes(page)).toEqual(['F32 48']);
    const memory = await page.getByTestId('training-memory').innerText();
    expect(memory).toMatch(/Peak GPU memory at seq 128, batch 4/);
    expect(memory).toMatch(/Assumes fixed settings, not the Fine-tune panel's: PEQA on 4-bit codes, group 32, LoRA rank 8/);
    expect(await cell(page, 'memory-peqa')).toMatch(/^[\d.]+ MiB$/);
    expect(await cell(page, 'memory-lora')).toMatch(/^[\d.]+ MiB$/);
  });

  it.skipIf(!FOLDER)('a picked Hugging Face folder replaces it: 47 F32 tensors, hf tokenizer', async () => {
    expect(await loadVia(page, () => page.getByTestId('pick-folder').setInputFiles(FOLDER!))).toBe('ready');
    console.log(`model card as shown:\n${await page.getByTestId('model-card').innerText()}`);
    expect(await cell(page, 'model-name')).toBe('stories260K');
    expect(await cell(page, 'model-format')).toBe('Hugging Face safetensors');
    expect(await cell(page, 'model-architecture')).toBe('llama');
    expect(await cell(page, 'model-layers')).toBe('5');
    expect(await tensorTypes(page)).toEqual(['F32 47']);
    expect(await cell(page, 'model-tokenizer')).toBe('hf, vocab 512');
    expect(await page.getByTestId('file-list').innerText()).toContain('stories260K/tokenizer.json');
  });

  it.skipIf(!GGUF)('a truncated .gguf shows a GgufError that names the file', async () => {
    const truncated = join(tmp, 'stories260K-truncated.gguf');
    await writeFile(truncated, (await readFile(GGUF!)).subarray(0, 64));
    expect(await loadVia(page, () => page.getByTestId('pick-files').setInputFiles(truncated))).toBe('error');
    await page.screenshot({ path: join(ROOT, 'test-results/app-model-error.png'), fullPage: true });
    const note = await page.getByTestId('model-error').innerText();
    console.log(`error shown:\n${note}`);
    expect(note).toContain('Could not open stories260K-truncated.gguf');
    // 64 bytes: the 24-byte fixed header, then 40 bytes where 19 keys and 48 tensor infos should be.
    expect(note).toMatch(/stories260K-truncated\.gguf: .*only 40 remain/);
    expect(await page.getByTestId('model-error').locator('.error-name').innerText()).toBe('GgufError');
    expect(await page.getByTestId('model-facts').count()).toBe(0);
  });

  it('a dropped file goes the same way (drop handler → worker)', async () => {
    // filesFromDrop takes the drop's file-system entries or, where the browser gives none, its files.
    const drop = () => dropFile(page, '.drop', 'dropped.gguf', [0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0]);
    expect(await loadVia(page, drop)).toBe('error');
    const note = await page.getByTestId('model-error').innerText();
    expect(note).toContain('Could not open dropped.gguf');
    expect(note).toMatch(/dropped\.gguf: /);
    expect(note).toContain('GgufError');
  });
});
