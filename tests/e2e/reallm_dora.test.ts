// The studio's DoRA and codebook-training switches on the "ReALLM 2-bit" preset,
// in the built app in Chromium (SwiftShader WebGPU): open the stories260K
// Hugging Face folder (F32), drop a slice of Tiny Shakespeare, choose ReALLM
// 2-bit and turn on DoRA and "train the codebooks too" — before training the
// formats hint refuses AQLM + PEFT, PEFT and GGUF + LoRA and says why (PEFT
// refuses DoRA on AQLM, llama.cpp adapters hold no magnitudes), keeping the
// merged checkpoint; train two steps (the worker's TrainConfig has lora.dora and
// codebooks: the report's notes say both), see a finite loss, find the same
// refusals in the export panel and the merged F16 checkpoint written as
// downloads. Without the switches: tests/e2e/reallm.test.ts; the CLI's
// --dora / --train-codebooks: tests/cli/tune_dora.test.ts, tune_reallm.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Download, Page } from 'playwright-core';
import { fixture } from '../helpers/fixtures.ts';
import { dropFile, haveChromium, openStudio, startApp, type AppHarness } from './harness.ts';

const FOLDER = fixture('models/stories260K');
const TEXT = fixture('data/tinyshakespeare/input.txt');
const SLICE_CHARS = 6_000;
const STEPS = 2;
const RUN_TIMEOUT_MS = 240_000;

const attr = async (page: Page, testId: string, name: string) => (await page.getByTestId(testId).getAttribute(name)) ?? '';
const until = (page: Page, fn: string, timeout = RUN_TIMEOUT_MS) => page.waitForFunction(fn, undefined, { timeout, polling: 100 });

describe.skipIf(!haveChromium || !FOLDER || !TEXT)('ReALLM 2-bit with DoRA and trained codebooks in Chromium', () => {
  let app: AppHarness;
  let page: Page;

  beforeAll(async () => {
    app = await startApp();
    page = await openStudio(app);
  });

  afterAll(async () => {
    await app?.close();
  });

  it('the switches show for ReALLM, and the hint says before training what DoRA cannot be written as', async () => {
    await page.getByTestId('pick-folder').setInputFiles(FOLDER!);
    await until(page, `document.querySelector('[data-testid="model-status"]')?.textContent === 'ready'`, 60_000);
    await dropFile(page, '[data-testid="train-data-drop"]', 'shakespeare.txt', readFileSync(TEXT!, 'utf8').slice(0, SLICE_CHARS), 'text/plain');
    // PEQA (the default) takes neither switch.
    expect(await page.getByTestId('train-dora').count()).toBe(0);
    expect(await page.getByTestId('train-codebooks').count()).toBe(0);
    await page.getByTestId('train-preset-reallm2').click();
    expect(await attr(page, 'export-hint-aqlm', 'data-exact')).toBe('true');
    expect(await page.getByTestId('export-hint-dora').count()).toBe(0);
    await page.getByTestId('train-dora').check();
    await page.getByTestId('train-codebooks').check();
    for (const f of ['aqlm', 'peft', 'gguf-lora', 'gguf', 'gptq', 'mlx']) expect(await attr(page, `export-hint-${f}`, 'data-exact'), f).toBe('false');
    expect(await attr(page, 'export-hint-merged', 'data-exact')).toBe('true');
    expect(await attr(page, 'export-hint-aqlm', 'title')).toMatch(/PEFT refuses DoRA on AQLM/);
    const note = await page.getByTestId('export-hint-dora').innerText();
    console.log(`before training: ${note}`);
    expect(note).toMatch(/AQLM \+ PEFT adapter/);
    expect(note).toMatch(/GGUF \+ LoRA adapter/);
    expect(note).toMatch(/PEFT refuses DoRA on AQLM/);
    expect(note).toMatch(/exports as merged F16 checkpoint/);
    expect(note, 'MLX holds no learned codebook with or without DoRA: not DoRA\'s to refuse').not.toMatch(/\bMLX\b/);
    // AQLM's layout line is for a run that exports as AQLM: gone with DoRA.
    expect(await page.getByTestId('export-hint-layout').count()).toBe(0);
    await page.locator('[data-testid="train-advanced"] > summary').click();
    for (const [id, v] of [['train-steps', STEPS], ['train-seq', 32], ['train-batch', 2], ['train-eval-windows', 2], ['train-sample-tokens', 4]] as const)
      await page.getByTestId(id).fill(String(v));
    await until(page, `document.querySelector('[data-testid="train-data-counts"]')?.textContent.includes('windows of 32 tokens')`, 30_000);
    await until(page, `!document.querySelector('[data-testid="train-start"]')?.disabled`, 60_000);
  });

  it(`trains ${STEPS} steps with DoRA and the codebooks; the export panel refuses the same formats; merged downloads`, async () => {
    const t0 = Date.now();
    await page.getByTestId('train-start').click();
    await until(page, `['done', 'stopped', 'error'].includes(document.querySelector('[data-testid="train-status"]')?.textContent)`);
    const status = await page.getByTestId('train-status').textContent();
    const panel = await page.getByTestId('train-panel').innerText().catch(() => '');
    if (status !== 'done') console.log(panel);
    expect(status).toBe('done');
    const loss = Number(await attr(page, 'train-loss', 'data-value'));
    console.log(`trained ${STEPS} steps (DoRA + codebooks) in ${((Date.now() - t0) / 1000).toFixed(1)} s; last loss ${loss}`);
    expect(Number.isFinite(loss) && loss > 0).toBe(true);
    expect(Number(await attr(page, 'train-step', 'data-value'))).toBe(STEPS);
    // The worker built the run with both (runConfig's notes reach the report).
    expect(panel).toMatch(/DoRA: a magnitude per output row/);
    expect(panel).toMatch(/Codebooks: every learned table entry and row scale trains too/);

    await until(page, `['ready', 'error'].includes(document.querySelector('[data-testid="export-panel"]')?.getAttribute('data-choices'))`, 60_000);
    expect(await attr(page, 'export-panel', 'data-choices')).toBe('ready');
    for (const f of ['aqlm', 'peft', 'gguf-lora', 'gguf', 'gptq', 'mlx']) expect(await page.getByTestId(`export-${f}`).isDisabled(), f).toBe(true);
    expect(await page.getByTestId('export-merged').isDisabled()).toBe(false);
    const aqlm = await page.getByTestId('export-aqlm-detail').innerText();
    const lora = await page.getByTestId('export-gguf-lora-detail').innerText();
    console.log(`AQLM: ${aqlm}\nGGUF + LoRA: ${lora}`);
    expect(aqlm).toMatch(/PEFT refuses DoRA on AQLM/);
    expect(lora).toMatch(/DoRA|magnitude/);

    await page.evaluate(() => {
      delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker;
      delete (Window.prototype as { showDirectoryPicker?: unknown }).showDirectoryPicker;
    });
    const downloads: Download[] = [];
    page.on('download', (d) => downloads.push(d));
    await page.getByTestId('export-merged').click();
    await until(page, `['done', 'error', 'cancelled'].includes(document.querySelector('[data-testid="export-job"]')?.getAttribute('data-status'))`, 120_000);
    if ((await attr(page, 'export-job', 'data-status')) !== 'done') console.log(await page.getByTestId('export-panel').innerText());
    expect(await attr(page, 'export-job', 'data-status')).toBe('done');
    const listed = await page.locator('[data-testid="export-files"] tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name')));
    await expect.poll(() => downloads.length, { timeout: 30_000 }).toBe(listed.length);
    const names = downloads.map((d) => d.suggestedFilename());
    console.log(`downloads: ${names.join(', ')}`);
    for (const f of ['model.safetensors', 'config.json']) expect(names).toContain(f);
  });
});
