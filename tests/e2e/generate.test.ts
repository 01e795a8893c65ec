// Generation and perplexity in the built app in Chromium (SwiftShader WebGPU):
// pick stories260K.gguf, generate greedily and compare the text streamed into
// the page with `sub4 generate` (same model, same settings, run here), Stop a
// long generation, and evaluate tinyshakespeare against `sub4 eval --json`.
// Screenshots: test-results/app-generate.png, test-results/app-perplexity.png.
// The worker side is tested without a browser in tests/gpu/worker-protocol.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { fixture } from '../helpers/fixtures.ts';
import { dropFile, haveChromium, openStudio, ROOT, startApp, type AppHarness } from './harness.ts';

const GGUF = fixture('models/stories260K.gguf');
const TEXT = fixture('data/tinyshakespeare/input.txt');
const BIN = join(ROOT, 'bin/sub4.js');
const PROMPT = 'Once upon a time';
const RUN_TIMEOUT_MS = 30_000;
/** A page that answers slower than this feels stuck. */
const RESPONSIVE_MS = 200;

const run = promisify(execFile);

/** `sub4 generate` greedy: the continuation it prints (stdout is the prompt, the new text, a newline) and its decode speed. */
async function cliGenerate(model: string, maxTokens: number): Promise<{ text: string; tokensPerSecond: number }> {
  const { stdout, stderr } = await run('node', [BIN, 'generate', model, '--prompt', PROMPT, '--max-tokens', String(maxTokens), '--temperature', '0']);
  expect(stdout.startsWith(PROMPT) && stdout.endsWith('\n'), stdout).toBe(true);
  const speed = /decode ([\d.]+) tokens\/s/.exec(stderr);
  return { text: stdout.slice(PROMPT.length, -1), tokensPerSecond: speed ? Number(speed[1]) : Number.NaN };
}

async function cliEval(model: string, data: string, ctx: number, windows: number): Promise<{ tokens: number; nll: number; ppl: number }> {
  const { stdout } = await run('node', [BIN, 'eval', model, '--data', data, '--ctx', String(ctx), '--windows', String(windows), '--json']);
  return JSON.parse(stdout.trim().split('\n').at(-1)!); // progress lines come first
}

/** Run `act`, then wait until the panel shows a newer run with a final status; returns that status. */
async function runVia(page: Page, panel: 'generate-panel' | 'perplexity-panel', status: string, act: () => Promise<unknown>): Promise<string> {
  const before = Number(await page.getByTestId(panel).getAttribute('data-run-id'));
  await act();
  await page.waitForFunction(
    ([panel, status, n]) =>
      Number(document.querySelector(`[data-testid="${panel}"]`)?.getAttribute('data-run-id')) > Number(n) &&
      /^(done|stopped|error)$/.test(document.querySelector(`[data-testid="${status}"]`)?.textContent ?? ''),
    [panel, status, String(before)],
    { timeout: RUN_TIMEOUT_MS, polling: 50 },
  );
  return (await page.getByTestId(status).textContent()) ?? '';
}

/**
 * Record from inside the page every text the element `testId` shows (it may
 * appear later) and the largest gap of a 10 ms timer, until readWatch().
 */
function watch(page: Page, testId: string, attr: string | null = null): Promise<void> {
  return page.evaluate(
    ([testId, attr]) => {
      const w = { seen: [] as string[], maxGap: 0, longTasks: [] as number[], last: performance.now(), timer: 0, observer: null as MutationObserver | null };
      (window as unknown as { __watch: typeof w }).__watch = w;
      const read = () => {
        const el = document.querySelector(`[data-testid="${testId}"]`);
        if (!el) return;
        const v = attr ? (el.getAttribute(attr) ?? '') : (el.textContent ?? '');
        if (w.seen.at(-1) !== v) w.seen.push(v);
      };
      w.observer = new MutationObserver(read);
      w.observer.observe(document.body, { childList: true, characterData: true, subtree: true, attributes: true });
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) w.longTasks.push(Math.round(e.duration));
      }).observe({ type: 'longtask' });
      w.timer = window.setInterval(() => {
        const now = performance.now();
        w.maxGap = Math.max(w.maxGap, now - w.last);
        w.last = now;
      }, 10);
    },
    [testId, attr],
  );
}

function readWatch(page: Page): Promise<{ seen: string[]; maxGap: number; longTasks: number[] }> {
  return page.evaluate(() => {
    const w = (window as unknown as { __watch: { seen: string[]; maxGap: number; longTasks: number[]; timer: number; observer: MutationObserver } }).__watch;
    clearInterval(w.timer);
    w.observer.disconnect();
    return { seen: w.seen, maxGap: Math.round(w.maxGap), longTasks: w.longTasks };
  });
}

describe.skipIf(!haveChromium || !GGUF)('generate and perplexity in Chromium', () => {
  let app: AppHarness;
  let page: Page;
  let cliGreedy: { text: string; tokensPerSecond: number };

  beforeAll(async () => {
    // The CLI first, alone on the machine, so its speed is comparable with the page's.
    cliGreedy = await cliGenerate(GGUF!, 20);
    app = await startApp();
    page = await openStudio(app);
  });

  afterAll(async () => {
    await app?.close();
  });

  it('panels stay disabled until a model is loaded', async () => {
    expect(await page.getByTestId('generate').isDisabled()).toBe(true);
    expect(await page.getByTestId('prompt').isDisabled()).toBe(true);
    expect(await page.getByTestId('evaluate').isDisabled()).toBe(true);
    await page.getByTestId('pick-files').setInputFiles(GGUF!);
    await page.waitForFunction(() => document.querySelector('[data-testid="model-status"]')?.textContent === 'ready', undefined, { timeout: RUN_TIMEOUT_MS });
    expect(await page.getByTestId('generate').isDisabled()).toBe(false);
    // Evaluate waits for a text file.
    expect(await page.getByTestId('evaluate').isDisabled()).toBe(true);
    // Where opening took its time; the weights are not on the GPU yet.
    expect(await page.getByTestId('model-load-times').innerText()).toMatch(/^Opened in [\d.]+ m?s( \(.*\))?\. The weights go onto the GPU with the first Generate, Evaluate, Calibrate or training run on them\.$/);
  });

  it('greedy generation streams into the page the text `sub4 generate` prints', async () => {
    await page.getByTestId('prompt').fill(PROMPT);
    await page.getByTestId('max-tokens').fill('20');
    await page.getByTestId('temperature').fill('0');
    await watch(page, 'generate-output');
    expect(await runVia(page, 'generate-panel', 'generate-status', () => page.getByTestId('generate').click())).toBe('done');
    const { seen, maxGap, longTasks } = await readWatch(page);
    const shown = await page.getByTestId('generate-output').textContent();
    const speed = Number(await page.getByTestId('generate-speed').getAttribute('data-value'));
    await page.getByTestId('generate-panel').screenshot({ path: join(ROOT, 'test-results/app-generate.png') });
    console.log(
      `page: ${JSON.stringify(shown)} at ${speed.toFixed(1)} tokens/s; CLI: ${cliGreedy.tokensPerSecond} tokens/s; ` +
        `${seen.length} texts seen while streaming; largest timer gap ${maxGap} ms; long tasks ${JSON.stringify(longTasks)}`,
    );

    expect(shown).toBe(cliGreedy.text);
    expect(shown!.startsWith(', there was a little girl named Lily')).toBe(true);
    expect(await page.getByTestId('generate-status').getAttribute('data-stop')).toBe('length');
    expect(await page.getByTestId('generate-stats').innerText()).toMatch(/^20 tokens at [\d.]+ tokens\/s .*max tokens reached/);
    // Streaming: the page showed growing prefixes of the text before the whole of it.
    const partial = seen.filter((t) => t !== '' && t !== shown && shown!.startsWith(t));
    expect(partial.length).toBeGreaterThanOrEqual(2);
    // The page's own thread never blocks: no long task of its own. (Timer gaps are only logged:
    // on SwiftShader the "GPU" is the same two CPU cores, so the page's thread can wait for a core.)
    expect(longTasks.filter((d) => d >= RESPONSIVE_MS)).toEqual([]);
    expect(speed).toBeGreaterThan(0);
    // This first run put the weights on the GPU: the model card says how long that took, by phase.
    const times = await page.getByTestId('model-weights-times').innerText();
    console.log(`model card: ${await page.getByTestId('model-load-times').innerText()}`);
    expect(times).toMatch(/^Weights on the GPU in [\d.]+ m?s \(.*upload [\d.]+ m?s.*\)\.$/);
  });

  it('Stop ends a long generation at the next token', async () => {
    await page.getByTestId('max-tokens').fill('1500');
    const status = runVia(page, 'generate-panel', 'generate-status', async () => {
      await page.getByTestId('generate').click();
      await page.waitForFunction(() => (document.querySelector('[data-testid="generate-output"]')?.textContent ?? '').length > 20, undefined, {
        timeout: RUN_TIMEOUT_MS,
      });
      await page.getByTestId('stop').click();
    });
    expect(await status).toBe('stopped');
    expect(await page.getByTestId('generate-status').getAttribute('data-stop')).toBe('cancelled');
    const stats = await page.getByTestId('generate-stats').innerText();
    const tokens = Number(/^(\d+) tokens/.exec(stats)?.[1]);
    console.log(`stopped: ${stats}`);
    expect(stats).toContain('stopped early');
    expect(tokens).toBeLessThan(200);
    const text = await page.getByTestId('generate-output').textContent();
    // Greedy again: what came before the stop is the same continuation, cut short or running on.
    const [short, long] = text!.length < cliGreedy.text.length ? [text!, cliGreedy.text] : [cliGreedy.text, text!];
    expect(short.length).toBeGreaterThan(20);
    expect(long.startsWith(short)).toBe(true);
    // Nothing arrives after the stop.
    await page.waitForTimeout(300);
    expect(await page.getByTestId('generate-output').textContent()).toBe(text);
    expect(await page.getByTestId('generate').isDisabled()).toBe(false);
  });

  it('a dropped text too short for the windows, or a picked one not UTF-8, is refused in plain words', async () => {
    await dropFile(page, '[data-testid="text-drop"]', 'short.txt', 'To be, or not to be.\n', 'text/plain');
    await expect.poll(() => page.getByTestId('text-file').textContent()).toBe('short.txt');
    await page.getByTestId('ppl-ctx').fill('128');
    await page.getByTestId('ppl-windows').fill('2');
    expect(await runVia(page, 'perplexity-panel', 'ppl-status', () => page.getByTestId('evaluate').click())).toBe('error');
    let note = await page.getByTestId('perplexity-panel').getByRole('alert').innerText();
    expect(note).toContain('Could not evaluate short.txt');
    expect(note).toMatch(/short\.txt: the text has \d+ tokens, but 2 windows of 128 tokens need 254/);
    expect(note).toContain('EvalDataError');

    await page.getByTestId('pick-text').setInputFiles({ name: 'latin1.txt', mimeType: 'text/plain', buffer: Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]) });
    expect(await runVia(page, 'perplexity-panel', 'ppl-status', () => page.getByTestId('evaluate').click())).toBe('error');
    note = await page.getByTestId('perplexity-panel').getByRole('alert').innerText();
    expect(note).toContain('latin1.txt: is not UTF-8 text');
  });

  it.skipIf(!TEXT)('perplexity of a picked text equals `sub4 eval`, and the bar reaches 100 %', async () => {
    const want = await cliEval(GGUF!, TEXT!, 128, 2);
    await page.getByTestId('pick-text').setInputFiles(TEXT!);
    await page.getByTestId('ppl-ctx').fill('128');
    await page.getByTestId('ppl-windows').fill('2');
    await watch(page, 'ppl-progress', 'aria-valuenow');
    expect(await runVia(page, 'perplexity-panel', 'ppl-status', () => page.getByTestId('evaluate').click())).toBe('done');
    const { seen } = await readWatch(page);
    const ppl = Number(await page.getByTestId('ppl-value').getAttribute('data-value'));
    const nll = Number(await page.getByTestId('ppl-nll').getAttribute('data-value'));
    await page.getByTestId('perplexity-panel').screenshot({ path: join(ROOT, 'test-results/app-perplexity.png') });
    console.log(`page: ppl ${ppl}, nll ${nll}; CLI: ${JSON.stringify(want)}; bar went ${seen.join(' → ')} %`);

    expect(Math.abs(ppl - want.ppl) / want.ppl).toBeLessThan(1e-4);
    expect(Math.abs(nll - want.nll) / want.nll).toBeLessThan(1e-4);
    expect(await page.getByTestId('ppl-tokens').innerText()).toMatch(new RegExp(`^${want.tokens} \\(2 windows of 128`));
    expect(seen.at(-1)).toBe('100');
    expect(seen[0]).toBe('0');
    expect(await page.getByTestId('ppl-progress').getAttribute('aria-valuenow')).toBe('100');
  });
});
