// Issue 21 in the built app (Chromium, SwiftShader WebGPU), on one page: settings
// errors name their field and never blame the data file, a seq len past the
// model's context is refused before Start (item 9); a data file dropped on "Model
// files" mid-run is refused and the run goes on on the model still loaded (item
// 2); a model dropped mid-run asks first, and yes ends the run 'stopped' (never
// 'failed') and loads it, taking the old run's chart, samples and export with it;
// a model that fails to open leaves no Generate output of the one before (item 6).
// Screenshots: test-results/drop-rejected.png, test-results/drop-confirm.png.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { fixture } from '../helpers/fixtures.ts';
import { join } from 'node:path';
import { dropFile, haveChromium, ROOT, startApp, studioWithRun, type AppHarness } from './harness.ts';

const GGUF = fixture('models/stories260K.gguf');
const TEXT = fixture('data/tinyshakespeare/input.txt');
const RUN_TIMEOUT_MS = 240_000;

const attr = async (page: Page, testId: string, name: string) => (await page.getByTestId(testId).getAttribute(name)) ?? '';
const until = (page: Page, fn: string, timeout = RUN_TIMEOUT_MS) => page.waitForFunction(fn, undefined, { timeout, polling: 50 });
const q = (testId: string) => `document.querySelector('[data-testid="${testId}"]')`;
const stepShown = `Number(${q('train-step')}?.getAttribute('data-value') ?? 0)`;
const statusIs = (word: string) => `${q('train-status')}?.textContent === ${JSON.stringify(word)}`;
const loadIdShown = `Number(${q('model-card')}?.getAttribute('data-load-id'))`;

describe.skipIf(!haveChromium || !GGUF || !TEXT)('issue 21: drops, settings and stale results in Chromium', () => {
  let app: AppHarness;
  let page: Page;

  beforeAll(async () => {
    app = await startApp();
    page = await studioWithRun(app, GGUF!, { name: 'shakespeare12k.txt', text: readFileSync(TEXT!, 'utf8').slice(0, 12_000), type: 'text/plain' });
    // Many steps of small windows: the run must still be going when the drops below arrive.
    for (const [id, v] of [['train-steps', 2000], ['train-seq', 32], ['train-batch', 1], ['train-eval-windows', 2], ['train-sample-tokens', 4]] as const)
      await page.getByTestId(id).fill(String(v));
    await until(page, `${q('train-data-counts')}?.textContent.includes('windows of 32 tokens')`, 60_000);
  });

  afterAll(async () => {
    await app?.close();
  });

  /** Type `value` into `field`; wait for the worker's word on that field, and that the data file is not blamed. */
  async function refused(field: string, value: string): Promise<string> {
    await page.getByTestId(field).fill(value);
    await until(page, `!!${q(`${field}-error`)}`, 30_000);
    // The data read (debounced like the plan) has answered too: seq len and seed are its settings as well.
    if (field !== 'train-steps') await until(page, `!!${q('train-data-waiting')} || !!${q('train-data-counts')}`, 30_000);
    const text = await page.getByTestId(`${field}-error`).innerText();
    expect(await page.getByTestId('train-panel').innerText()).not.toContain('Could not read');
    expect(await page.getByTestId('train-start').isDisabled()).toBe(true);
    return text;
  }

  it("names the field of a bad setting, never the data file; a seq len past the model's context is refused before Start", async () => {
    expect(await refused('train-seq', '99999999')).toBe('must be a whole number from 2 to 65536, got 99999999');
    expect(await page.getByTestId('train-data-waiting').innerText()).toContain('seq len');
    await page.getByTestId('train-seq').fill('32');
    expect(await refused('train-seed', '1e30')).toMatch(/^must be a whole number from 0 to 4294967295, got 1e\+30/);
    await page.getByTestId('train-seed').fill('0');
    const empty = await refused('train-steps', '');
    expect(empty).toContain('the box is empty');
    expect(empty).not.toContain('NaN');
    await page.getByTestId('train-steps').fill('2000');

    const max = Number((await page.getByTestId('model-card').innerText()).match(/max positions ([\d,]+)/)![1].replace(/,/g, ''));
    expect(await refused('train-seq', String(max + 1))).toBe(`stories260K.gguf has a context of ${max} tokens, so seq len must be at most ${max}, got ${max + 1}`);
    await page.getByTestId('train-seq').fill('32');
    await until(page, `${q('train-data-counts')}?.textContent.includes('windows of 32 tokens') && !${q('train-start')}.disabled`, 60_000);
  });

  it('a data file dropped on "Model files" mid-run is refused: the run goes on and the model stays loaded', async () => {
    await page.getByTestId('train-start').click();
    await until(page, `${statusIs('running')} && ${stepShown} >= 2`);
    const loadId = Number(await attr(page, 'model-card', 'data-load-id'));
    await dropFile(page, '[data-testid="model-drop"]', 'data.jsonl', '{"text": "hello"}\n', 'application/jsonl');
    await until(page, `!!${q('drop-rejected')}`, 30_000);
    expect(await page.getByTestId('drop-rejected').innerText()).toMatch(/none is a \.gguf file[\s\S]*ModelFilesError/);
    await page.locator('section.panel', { has: page.getByTestId('model-drop') }).screenshot({ path: join(ROOT, 'test-results/drop-rejected.png') });
    const step = Number(await attr(page, 'train-step', 'data-value'));
    await until(page, `${stepShown} >= ${step + 2}`);
    expect(await page.getByTestId('train-status').textContent()).toBe('running');
    expect(await page.getByTestId('model-status').textContent()).toBe('ready');
    expect(Number(await attr(page, 'model-card', 'data-load-id'))).toBe(loadId);
    expect(await page.getByTestId('file-list').innerText()).not.toContain('data.jsonl');
  });

  it('a model dropped mid-run asks first; "keep training" keeps it, yes ends the run stopped (not failed), loads the model and clears the old results', async () => {
    const loadId = Number(await attr(page, 'model-card', 'data-load-id'));
    await page.getByTestId('pick-files').setInputFiles(GGUF!);
    await until(page, `!!${q('drop-confirm')}`, 30_000);
    expect(await page.getByTestId('drop-confirm').innerText()).toContain('stops the run');
    await page.locator('section.panel', { has: page.getByTestId('model-drop') }).screenshot({ path: join(ROOT, 'test-results/drop-confirm.png') });
    await page.getByTestId('drop-confirm-cancel').click();
    const step = Number(await attr(page, 'train-step', 'data-value'));
    await until(page, `${stepShown} >= ${step + 2}`);
    expect(await page.getByTestId('train-status').textContent()).toBe('running');
    expect(Number(await attr(page, 'model-card', 'data-load-id'))).toBe(loadId);

    // Every word the run's badge shows from here on.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { __statuses: string[] }).__statuses = seen;
      new MutationObserver(() => {
        const w = document.querySelector('[data-testid="train-status"]')?.textContent ?? '';
        if (seen.at(-1) !== w) seen.push(w);
      }).observe(document.body, { childList: true, characterData: true, subtree: true });
    });
    await page.getByTestId('pick-files').setInputFiles(GGUF!);
    await until(page, `!!${q('drop-confirm')}`, 30_000);
    await page.getByTestId('drop-confirm-load').click();
    await until(page, `${loadIdShown} > ${loadId} && ${q('model-status')}?.textContent === 'ready'`);
    const statuses = await page.evaluate(() => (window as unknown as { __statuses: string[] }).__statuses);
    console.log(`run badge after yes: ${statuses.join(' → ')}`);
    expect(statuses).toContain('stopped');
    expect(statuses).not.toContain('error');
    expect(await page.getByTestId('train-panel').innerText()).not.toContain('Training failed');
    // The old run's results went with its model.
    expect(await page.getByTestId('train-status').textContent()).toBe('idle');
    expect(await attr(page, 'loss-chart', 'data-points')).toBe('0');
    expect(await page.getByTestId('sample-before').count()).toBe(0);
    expect(await page.getByTestId('train-result').count()).toBe(0);
    expect(await page.getByTestId('export-panel').count()).toBe(0);
  });

  it("a model that fails to open leaves no Generate output of the one before", async () => {
    await page.getByTestId('prompt').fill('Once upon a time');
    await page.getByTestId('max-tokens').fill('4');
    await page.getByTestId('generate').click();
    await until(page, `${q('generate-status')}?.textContent === 'done'`);
    expect((await page.getByTestId('generate-output').textContent())!.length).toBeGreaterThan(0);
    await page.getByTestId('pick-files').setInputFiles({ name: 'broken.gguf', mimeType: 'application/octet-stream', buffer: readFileSync(GGUF!).subarray(0, 64) });
    await until(page, `${q('model-status')}?.textContent === 'error'`, 60_000);
    expect(await page.getByTestId('generate-output').count()).toBe(0);
    expect(await page.getByTestId('generate-panel').innerText()).not.toContain('Generation failed');
  });
});
