// The studio's "ReALLM 2-bit" preset in the built app in Chromium (SwiftShader
// WebGPU): open the stories260K Hugging Face folder (F32), drop a slice of Tiny
// Shakespeare, choose ReALLM 2-bit — the formats hint says before training that
// the run exports exactly as AQLM + PEFT and that AQLM holds one scale per
// output row — train a few steps (the worker builds the learned-codebook base
// of src/train/reallm.ts and trains LoRA from its low-rank start), see the loss,
// and export AQLM + PEFT as downloads (no File System Access API). The same
// run through the CLI, with the AQLM folder read back by an independent
// reader, is tests/cli/tune_reallm.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Download, Page } from 'playwright-core';
import { fixture } from '../helpers/fixtures.ts';
import { dropFile, haveChromium, openStudio, startApp, type AppHarness } from './harness.ts';

const FOLDER = fixture('models/stories260K');
const TEXT = fixture('data/tinyshakespeare/input.txt');
const SLICE_CHARS = 6_000;
const STEPS = 3;
const RUN_TIMEOUT_MS = 240_000;

const attr = async (page: Page, testId: string, name: string) => (await page.getByTestId(testId).getAttribute(name)) ?? '';
const until = (page: Page, fn: string, timeout = RUN_TIMEOUT_MS) => page.waitForFunction(fn, undefined, { timeout, polling: 100 });

describe.skipIf(!haveChromium || !FOLDER || !TEXT)('ReALLM 2-bit in Chromium', () => {
  let app: AppHarness;
  let page: Page;
  let dir: string;

  beforeAll(async () => {
    app = await startApp();
    page = await openStudio(app);
    dir = await mkdtemp(join(tmpdir(), 'sub4-reallm-e2e-'));
  });

  afterAll(async () => {
    await app?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the preset says before training that the run exports as AQLM + PEFT with one scale per output row', async () => {
    await page.getByTestId('pick-folder').setInputFiles(FOLDER!);
    await until(page, `document.querySelector('[data-testid="model-status"]')?.textContent === 'ready'`, 60_000);
    await dropFile(page, '[data-testid="train-data-drop"]', 'shakespeare.txt', readFileSync(TEXT!, 'utf8').slice(0, SLICE_CHARS), 'text/plain');
    await page.getByTestId('train-preset-reallm2').click();
    expect(await attr(page, 'train-preset-reallm2', 'aria-pressed')).toBe('true');
    expect(await attr(page, 'export-hint-aqlm', 'data-exact')).toBe('true');
    expect(await attr(page, 'export-hint-peft', 'data-exact')).toBe('true');
    expect(await attr(page, 'export-hint-gguf', 'data-exact')).toBe('false');
    const layout = await page.getByTestId('export-hint-layout').innerText();
    console.log(`before training: ${layout}`);
    expect(layout).toMatch(/one scale per output row/);
    await page.locator('[data-testid="train-advanced"] > summary').click();
    expect(await page.getByTestId('train-method').inputValue()).toBe('reallm');
    for (const [id, v] of [['train-steps', STEPS], ['train-seq', 32], ['train-batch', 2], ['train-eval-windows', 2], ['train-sample-tokens', 4]] as const)
      await page.getByTestId(id).fill(String(v));
    await until(page, `document.querySelector('[data-testid="train-data-counts"]')?.textContent.includes('windows of 32 tokens')`, 30_000);
    await until(page, `!document.querySelector('[data-testid="train-start"]')?.disabled`, 60_000);
  });

  it(`trains ${STEPS} steps on the learned-codebook base; the loss is shown; AQLM + PEFT downloads`, async () => {
    const t0 = Date.now();
    await page.getByTestId('train-start').click();
    await until(page, `['done', 'stopped', 'error'].includes(document.querySelector('[data-testid="train-status"]')?.textContent)`);
    const status = await page.getByTestId('train-status').textContent();
    if (status !== 'done') console.log(await page.getByTestId('train-panel').innerText().catch(() => ''));
    expect(status).toBe('done');
    const loss = Number(await attr(page, 'train-loss', 'data-value'));
    console.log(`trained ${STEPS} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s; last loss ${loss}`);
    expect(Number.isFinite(loss) && loss > 0).toBe(true);
    expect(Number(await attr(page, 'train-step', 'data-value'))).toBe(STEPS);

    await until(page, `['ready', 'error'].includes(document.querySelector('[data-testid="export-panel"]')?.getAttribute('data-choices'))`, 60_000);
    expect(await attr(page, 'export-panel', 'data-choices')).toBe('ready');
    for (const f of ['aqlm', 'peft', 'gguf-lora']) expect(await page.getByTestId(`export-${f}`).isDisabled(), f).toBe(false);
    for (const f of ['gguf', 'gptq', 'mlx']) expect(await page.getByTestId(`export-${f}`).isDisabled(), f).toBe(true);
    console.log(`AQLM choice: ${await page.getByTestId('export-aqlm-detail').innerText()}`);

    await page.evaluate(() => {
      delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker;
      delete (Window.prototype as { showDirectoryPicker?: unknown }).showDirectoryPicker;
    });
    const downloads: Download[] = [];
    page.on('download', (d) => downloads.push(d));
    await page.getByTestId('export-aqlm').click();
    await until(page, `['done', 'error', 'cancelled'].includes(document.querySelector('[data-testid="export-job"]')?.getAttribute('data-status'))`, 120_000);
    expect(await attr(page, 'export-job', 'data-status')).toBe('done');
    const listed = await page.locator('[data-testid="export-files"] tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name')));
    await expect.poll(() => downloads.length, { timeout: 30_000 }).toBe(listed.length);
    const names = downloads.map((d) => d.suggestedFilename());
    console.log(`downloads: ${names.join(', ')}`);
    for (const f of ['model.safetensors', 'config.json', 'adapter_config.json', 'adapter_model.safetensors']) expect(names).toContain(f);
    const cfg = downloads.find((d) => d.suggestedFilename() === 'config.json')!;
    await cfg.saveAs(join(dir, 'config.json'));
    const q = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')).quantization_config;
    expect(q).toMatchObject({ quant_method: 'aqlm', in_group_size: 4, nbits_per_codebook: 8, num_codebooks: 1, out_group_size: 1 });
  });
});
