// Issue 21, items 10–14: the studio as a new user meets it, in Chromium on
// SwiftShader at 1280×900 with the real files of shared/. One page goes through
// it in order (the software GPU makes each page slow): the first screen, the
// model card of stories260K.gguf (a base model: no chat template), the LLaMA-
// Factory chats (refused, then read through the plain-chat box), Alpaca-5k's
// preview and problems, a .txt file's counts, keyboard focus around Start, and a
// short run's loss chart; then a tiny model on SmolLM2's real tokenizer and chat
// template, and Generate's chat mode. Screenshots: test-results/new-user-*.png.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { fixture } from '../helpers/fixtures.ts';
import { writeTinyChatModel } from '../helpers/tiny_chat_model.ts';
import { dropFile, haveChromium, openStudio, ROOT, startApp, type AppHarness } from './harness.ts';

const GGUF = fixture('models/stories260K.gguf');
const ALPACA = fixture('data/alpaca/alpaca_5000.json');
const KTO = fixture('data/chat/kto_en_demo.json');
const TEXT = fixture('data/tinyshakespeare/input.txt');
const SMOL = fixture('tokenizers/SmolLM2-135M-Instruct');
const STEPS = 6;

const shot = (name: string) => join(ROOT, `test-results/new-user-${name}.png`);

function until(page: Page, fn: string, timeout = 120_000): Promise<unknown> {
  return page.waitForFunction(fn, undefined, { timeout, polling: 50 });
}

/** Run `act` (a drop, a tick), then wait until the data read it started has ended (ready or error). */
async function dataRead(page: Page, act: () => Promise<unknown>): Promise<void> {
  const before = Number(await page.getByTestId('train-data').getAttribute('data-req'));
  await act();
  await until(page, `(() => { const d = document.querySelector('[data-testid="train-data"]'); return Number(d?.getAttribute('data-req')) > ${before} && /^(ready|error)$/.test(d?.getAttribute('data-status') ?? ''); })()`);
}

/** WCAG relative luminance contrast of two CSS rgb() colours. */
function contrast(a: string, b: string): number {
  const lum = (c: string) => {
    const [r, g, bl] = (c.match(/[\d.]+/g) ?? ['0', '0', '0']).slice(0, 3).map((v) => {
      const x = Number(v) / 255;
      return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

describe.skipIf(!haveChromium || !GGUF || !ALPACA || !KTO || !TEXT || !SMOL)('a new user in the studio (issue 21, items 10–14)', () => {
  let app: AppHarness;
  let page: Page;

  beforeAll(async () => {
    app = await startApp();
    page = await openStudio(app);
  });

  afterAll(async () => {
    await app?.close();
  });

  it('first screen at 1280×900: Fine-tune above the fold, limits collapsed, the kernel in words, statuses live', async () => {
    await page.screenshot({ path: shot('first-screen') });
    const limits = page.getByTestId('gpu-limits');
    expect(await limits.evaluate((el) => el.tagName)).toBe('DETAILS');
    expect(await limits.evaluate((el) => (el as HTMLDetailsElement).open)).toBe(false);
    const kernel = (await page.getByTestId('selftest-kernel').textContent()) ?? ''; // folded away: textContent, not innerText
    expect(kernel).not.toBe('blocked');
    expect(kernel).toMatch(/tiled|simple/);
    expect(await page.getByText('Kernel variant').count()).toBe(0);
    const box = await page.getByTestId('train-panel').boundingBox();
    console.log(`Fine-tune panel top at ${box?.y} px of a 900 px viewport`);
    expect(box!.y).toBeLessThan(900 - 40); // its heading in view
    // Status words are live regions, so a screen reader hears them change.
    for (const id of ['selftest-status', 'model-status', 'train-status', 'generate-status', 'ppl-status'])
      expect(await page.getByTestId(id).getAttribute('role'), id).toBe('status');
    expect(await page.locator('main [data-testid="train-panel"]').count()).toBe(1);
  });

  it('the model card says the chat template, BOS/EOS, and which settings its memory estimate assumes', async () => {
    await page.getByTestId('pick-files').setInputFiles(GGUF!);
    await until(page, `document.querySelector('[data-testid="model-status"]')?.textContent === 'ready'`, 60_000);
    expect(await page.getByTestId('model-chat-template').innerText()).toMatch(/^none/);
    const specials = await page.getByTestId('model-specials').innerText();
    expect(specials).toContain('BOS <s> (id 1, prepended)');
    expect(specials).toContain('EOS </s> (id 2)');
    expect(await page.getByTestId('training-memory').innerText()).toContain("not the Fine-tune panel's");
  });

  it('chats on a model without a template: the error names the plain-chat box, and the box reads them', async () => {
    const rows = (JSON.parse(readFileSync(KTO!, 'utf8')) as unknown[]).slice(0, 24);
    await dataRead(page, () => dropFile(page, '[data-testid="train-data-drop"]', 'kto_en_demo.json', JSON.stringify(rows, null, 2), 'application/json'));
    const err = await page.getByTestId('train-panel').getByRole('alert').innerText();
    console.log(`chat data refused:\n${err}`);
    expect(err).toContain('"Plain User:/Assistant: chats" box');
    const box = page.getByLabel('Plain User:/Assistant: chats', { exact: false });
    expect(await box.count()).toBe(1);
    await dataRead(page, () => box.check());
    expect(await page.getByTestId('train-data-counts').innerText()).toContain('24 examples');
    expect(await page.getByTestId('train-panel').innerText()).toContain('conversations use the plain "User:/Assistant:" layout');
    await dataRead(page, () => box.uncheck());
  });

  it('Alpaca-5k: the preview shows each reply, says what green means; problems name records, <nooutput> rows left out', async () => {
    await dataRead(page, () => dropFile(page, '[data-testid="train-data-drop"]', 'alpaca_5000.json', readFileSync(ALPACA!, 'utf8'), 'application/json'));
    await page.getByTestId('train-panel').screenshot({ path: shot('alpaca-preview') });
    expect(await page.getByTestId('train-data-legend').innerText()).toContain('green = in the loss');
    // Every preview row's first in-loss run starts inside the row's visible box (rows are clipped).
    const rows = await page.evaluate(() =>
      [...document.querySelectorAll('[data-testid="train-data-preview"] pre')].map((pre) => {
        const span = pre.querySelector('.in-loss');
        const r = pre.getBoundingClientRect();
        return { visibleBottom: r.bottom, lossTop: span ? span.getBoundingClientRect().top : null, text: span?.textContent ?? '' };
      }),
    );
    console.log(`preview rows: ${JSON.stringify(rows)}`);
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r.lossTop).not.toBeNull();
      expect(r.lossTop!).toBeLessThan(r.visibleBottom - 10);
    }
    const problems = await page.getByTestId('train-data-problems').innerText();
    console.log(`problems:\n${problems}`);
    for (const rec of ['record 1275', 'record 2335', 'record 4361', 'record 4658']) expect(problems).toContain(rec);
    expect(problems).not.toMatch(/line 1\b/);
    expect(problems).toContain('<nooutput>');
    expect(await page.getByTestId('train-data-counts').innerText()).toContain('4,996 examples');
  });

  it('a .txt file is one document, not "2 examples"', async () => {
    const slice = readFileSync(TEXT!, 'utf8').slice(0, 6000);
    await dataRead(page, () => dropFile(page, '[data-testid="train-data-drop"]', 'shakespeare.txt', slice, 'text/plain'));
    const counts = await page.getByTestId('train-data-counts').innerText();
    console.log(`txt counts: ${counts}`);
    expect(counts).toMatch(/^plain text: one document/);
    expect(counts).not.toMatch(/\bexamples?\b/);
  });

  it('keyboard: Start keeps focus while a settings edit re-reads the data, with a ring that stands out', async () => {
    await page.getByTestId('train-preset-peqa4').click();
    await page.locator('[data-testid="train-advanced"] > summary').click();
    for (const [id, v] of [['train-steps', STEPS], ['train-seq', 32], ['train-batch', 1], ['train-eval-windows', 2], ['train-sample-tokens', 4]] as const)
      await page.getByTestId(id).fill(String(v));
    await until(page, `document.querySelector('[data-testid="train-data-counts"]')?.textContent.includes('windows of 32 tokens') && !document.querySelector('[data-testid="train-start"]')?.disabled`);
    // Reach Start by keyboard (so :focus-visible applies), then edit seq len without moving focus, as a
    // screen-reader user's assistive tech or a second input device may; watch where focus is meanwhile.
    await page.getByTestId('train-start').focus();
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('train-start');
    const ring = await page.getByTestId('train-start').evaluate((el) => {
      const s = getComputedStyle(el);
      const panel = getComputedStyle(el.closest('.panel')!).backgroundColor;
      return { style: s.outlineStyle, width: parseFloat(s.outlineWidth), offset: parseFloat(s.outlineOffset), color: s.outlineColor, panel, button: s.backgroundColor };
    });
    console.log(`focus ring: ${JSON.stringify(ring)}`);
    expect(ring.style).toBe('solid');
    expect(ring.width).toBeGreaterThanOrEqual(2);
    expect(ring.offset).toBeGreaterThanOrEqual(1);
    expect(contrast(ring.color, ring.panel)).toBeGreaterThanOrEqual(3);
    expect(contrast(ring.color, ring.button)).toBeGreaterThanOrEqual(1.5);
    await page.screenshot({ path: shot('focus-start') });

    const seen = await page.evaluate(async () => {
      const input = document.querySelector('[data-testid="train-seq"]') as HTMLInputElement;
      const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!;
      set.call(input, '48');
      input.dispatchEvent(new Event('input', { bubbles: true }));
      const where = new Set<string>();
      const t0 = performance.now();
      while (performance.now() - t0 < 4000) {
        where.add(document.activeElement?.getAttribute('data-testid') ?? document.activeElement?.tagName ?? 'none');
        if ((document.querySelector('[data-testid="train-data-counts"]')?.textContent ?? '').includes('windows of 48 tokens') && performance.now() - t0 > 1000) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      return [...where];
    });
    expect(seen).toEqual(['train-start']);
    await page.getByTestId('train-seq').fill('32');
  });

  it(`a ${STEPS}-step run: whole-step ticks over steps 1–${STEPS}, a summary and a table beside the chart, the panels in <main>`, async () => {
    await until(page, `document.querySelector('[data-testid="train-data-counts"]')?.textContent.includes('windows of 32 tokens') && !document.querySelector('[data-testid="train-start"]')?.disabled`);
    // Started from the keyboard: Start turns disabled, and focus moves along the row instead of falling to the page;
    // when the run ends, Pause and Stop turn disabled and it comes back to Start.
    await page.getByTestId('train-start').focus();
    await page.keyboard.press('Enter');
    await until(page, `document.querySelector('[data-testid="train-status"]')?.textContent === 'running' && document.querySelector('[data-testid="train-start"]')?.disabled`);
    await page.waitForTimeout(100);
    const whileRunning = await page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? document.activeElement?.tagName);
    await until(page, `['done', 'error', 'stopped'].includes(document.querySelector('[data-testid="train-status"]')?.textContent ?? '')`, 240_000);
    expect(await page.getByTestId('train-status').textContent()).toBe('done');
    await page.waitForTimeout(100);
    const afterRun = await page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? document.activeElement?.tagName);
    console.log(`focus while running: ${whileRunning}; after: ${afterRun}`);
    expect(whileRunning).toBe('train-pause');
    expect(afterRun).toBe('train-start');
    await page.getByTestId('train-panel').screenshot({ path: shot('run') });
    const chart = page.getByTestId('loss-chart');
    const ticks = ((await chart.getAttribute('data-x-ticks')) ?? '').split(' ').filter(Boolean).map(Number);
    console.log(`x ticks ${ticks.join(' ')}; range ${await chart.getAttribute('data-x-min')}–${await chart.getAttribute('data-x-max')}`);
    expect(ticks.length).toBeGreaterThanOrEqual(2);
    expect(ticks.every((t) => Number.isInteger(t) && t >= 0 && t <= STEPS)).toBe(true);
    expect(Number(await chart.getAttribute('data-x-max'))).toBe(STEPS);
    const summary = await page.getByTestId('loss-summary').innerText();
    console.log(`chart summary: ${summary}`);
    expect(summary).toMatch(new RegExp(`Training loss [\\d.]+ at step 1, [\\d.]+ at step ${STEPS}`));
    expect(summary).toMatch(/Held-out loss [\d.]+ at step \d+/);
    expect(await page.getByTestId('loss-table').locator('tbody tr').count()).toBe(STEPS);
    expect(await chart.getAttribute('aria-hidden')).toBe('true');
    expect(await page.locator('main [data-testid="export-panel"]').count()).toBe(1);
  });

  it('a chat model: the card says it has a template, and Generate sends the prompt as a user turn in chat mode', async () => {
    const dir = writeTinyChatModel(SMOL!);
    const loadId = Number(await page.getByTestId('model-card').getAttribute('data-load-id'));
    await page.getByTestId('pick-folder').setInputFiles(dir);
    await until(page, `Number(document.querySelector('[data-testid="model-card"]')?.getAttribute('data-load-id')) > ${loadId} && /^(ready|error)$/.test(document.querySelector('[data-testid="model-status"]')?.textContent ?? '')`, 60_000);
    expect(await page.getByTestId('model-status').textContent()).toBe('ready');
    expect(await page.getByTestId('model-chat-template').innerText()).toMatch(/^yes/);
    expect(await page.getByTestId('model-specials').innerText()).toContain('EOS <|im_end|> (id 2)');
    const chat = page.getByTestId('generate-chat');
    expect(await chat.isChecked()).toBe(true);
    await page.getByTestId('prompt').fill('Once upon a time');
    await page.getByTestId('max-tokens').fill('2');
    await page.getByTestId('temperature').fill('0');
    const promptTokens = async () => {
      const run = Number(await page.getByTestId('generate-panel').getAttribute('data-run-id'));
      await page.getByTestId('generate').click();
      await until(page, `Number(document.querySelector('[data-testid="generate-panel"]')?.getAttribute('data-run-id')) > ${run} && ['done', 'error'].includes(document.querySelector('[data-testid="generate-status"]')?.textContent ?? '')`);
      const stats = await page.getByTestId('generate-stats').innerText();
      console.log(`generate: ${stats}`);
      return Number(/prompt (\d+) tokens/.exec(stats)?.[1]);
    };
    const inChat = await promptTokens();
    await chat.uncheck();
    const plain = await promptTokens();
    // "Once upon a time" is 4 tokens; as a user turn it also carries the template's system turn and headers.
    expect(plain).toBe(4);
    expect(inChat).toBeGreaterThan(plain + 10);

    // A run on chat data samples the prompt as a user turn of the template, and shows it so.
    const rows = (JSON.parse(readFileSync(KTO!, 'utf8')) as unknown[]).slice(0, 24);
    await dataRead(page, () => dropFile(page, '[data-testid="train-data-drop"]', 'kto_en_demo.json', JSON.stringify(rows), 'application/json'));
    await page.getByTestId('train-steps').fill('2');
    await page.getByTestId('train-seq').fill('64');
    await until(page, `document.querySelector('[data-testid="train-data-counts"]')?.textContent.includes('windows of 64 tokens') && !document.querySelector('[data-testid="train-start"]')?.disabled`);
    const runId = Number(await page.getByTestId('train-panel').getAttribute('data-run-id'));
    await page.getByTestId('train-start').click();
    await until(page, `Number(document.querySelector('[data-testid="train-panel"]')?.getAttribute('data-run-id')) > ${runId} && ['done', 'error', 'stopped'].includes(document.querySelector('[data-testid="train-status"]')?.textContent ?? '')`, 240_000);
    expect(await page.getByTestId('train-status').textContent()).toBe('done');
    const shown = await page.locator('.sample pre').first().innerText();
    console.log(`chat sample as shown: ${JSON.stringify(shown)}`);
    expect(shown).toMatch(/^<\|im_start\|>system\n.*<\|im_end\|>\n<\|im_start\|>user\nOnce upon a time<\|im_end\|>\n<\|im_start\|>assistant\n/s);
  });
});
