// Fine-tuning in the built app in Chromium (SwiftShader WebGPU): pick
// stories260K.gguf (F32), drop a slice of Tiny Shakespeare as the dataset, and
// train PEQA on a 4-bit base the worker quantizes itself (seq 64, batch 2, 20
// steps). Checks the dataset report, that the loss chart grows while the run
// goes, that the loss falls, tokens/s, the samples before and after, that the
// page's own thread never blocks, Pause then Resume, the Generate panel's tuned
// model continuing as the after sample, and Stop ending a run early with its
// results kept. Screenshot: test-results/train-panel.png.
// The same run through the CLI (`sub4 tune`) is tested in tests/cli/tune.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { fixture } from '../helpers/fixtures.ts';
import { dropFile, haveChromium, openStudio, ROOT, startApp, type AppHarness } from './harness.ts';

const GGUF = fixture('models/stories260K.gguf');
const TEXT = fixture('data/tinyshakespeare/input.txt');
/** About 7400 tokens: 104 training and 13 held-out windows of 64. */
const SLICE_CHARS = 12_000;
const STEPS = 20;
const RUN_TIMEOUT_MS = 240_000;
/** A page that answers slower than this feels stuck. */
const RESPONSIVE_MS = 200;

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const attr = async (page: Page, testId: string, name: string) => (await page.getByTestId(testId).getAttribute(name)) ?? '';
const num = async (page: Page, testId: string, name = 'data-value') => Number(await attr(page, testId, name));

/** Wait until `fn` (run in the page) is true. */
function until(page: Page, fn: string, timeout = RUN_TIMEOUT_MS): Promise<unknown> {
  return page.waitForFunction(fn, undefined, { timeout, polling: 50 });
}

const stepShown = `Number(document.querySelector('[data-testid="train-step"]')?.getAttribute('data-value') ?? 0)`;
const statusIs = (...words: string[]) => `${JSON.stringify(words)}.includes(document.querySelector('[data-testid="train-status"]')?.textContent ?? '')`;

/** Record from inside the page every loss the panel shows and the page's long tasks, until readWatch(). */
function watch(page: Page): Promise<void> {
  return page.evaluate(() => {
    const w = { losses: [] as number[], steps: [] as number[], longTasks: [] as number[], observer: null as MutationObserver | null, perf: null as PerformanceObserver | null };
    (window as unknown as { __train: typeof w }).__train = w;
    const read = () => {
      const step = Number(document.querySelector('[data-testid="train-step"]')?.getAttribute('data-value') ?? 0);
      const loss = document.querySelector('[data-testid="train-loss"]')?.getAttribute('data-value') ?? '';
      if (step > 0 && loss !== '' && w.steps.at(-1) !== step) {
        w.steps.push(step);
        w.losses.push(Number(loss));
      }
    };
    w.observer = new MutationObserver(read);
    w.observer.observe(document.body, { childList: true, characterData: true, subtree: true, attributes: true });
    w.perf = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.longTasks.push(Math.round(e.duration));
    });
    w.perf.observe({ type: 'longtask' });
  });
}

function readWatch(page: Page): Promise<{ losses: number[]; steps: number[]; longTasks: number[] }> {
  return page.evaluate(() => {
    const w = (window as unknown as { __train: { losses: number[]; steps: number[]; longTasks: number[]; observer: MutationObserver; perf: PerformanceObserver } }).__train;
    w.observer.disconnect();
    w.perf.disconnect();
    return { losses: w.losses, steps: w.steps, longTasks: w.longTasks };
  });
}

describe.skipIf(!haveChromium || !GGUF || !TEXT)('fine-tuning in Chromium', () => {
  let app: AppHarness;
  let page: Page;

  beforeAll(async () => {
    app = await startApp();
    page = await openStudio(app);
  });

  afterAll(async () => {
    await app?.close();
  });

  it('Start waits for a model and a dataset; a dropped slice of Tiny Shakespeare is read with the model tokenizer', async () => {
    expect(await page.getByTestId('train-start').isDisabled()).toBe(true);
    await page.getByTestId('pick-files').setInputFiles(GGUF!);
    await until(page, `document.querySelector('[data-testid="model-status"]')?.textContent === 'ready'`, 60_000);
    expect(await page.getByTestId('train-start').isDisabled()).toBe(true); // no data yet

    const slice = readFileSync(TEXT!, 'utf8').slice(0, SLICE_CHARS);
    await dropFile(page, '[data-testid="train-data-drop"]', 'shakespeare.txt', slice, 'text/plain');
    await expect.poll(() => page.getByTestId('train-data-file').textContent()).toBe('shakespeare.txt');

    // PEQA on a 4-bit base (stories260K is F32: the worker quantizes it), small shapes for SwiftShader.
    await page.getByTestId('train-preset-peqa4').click();
    await page.locator('[data-testid="train-advanced"] > summary').click();
    for (const [id, v] of [['train-steps', STEPS], ['train-seq', 64], ['train-batch', 2], ['train-eval-windows', 8], ['train-sample-tokens', 16]] as const)
      await page.getByTestId(id).fill(String(v));
    await until(page, `document.querySelector('[data-testid="train-data-counts"]')?.textContent.includes('windows of 64 tokens')`, 30_000);
    const counts = await page.getByTestId('train-data-counts').innerText();
    console.log(`dataset: ${counts}`);
    // One document (cut into training and held-out text), not "2 examples".
    expect(counts).toMatch(/^plain text: one document, its last part held out; [\d,]+ tokens .*→ \d+ training and \d+ held-out windows of 64 tokens/);
    expect(await num(page, 'train-data-counts', 'data-train-windows')).toBeGreaterThan(50);
    expect(await page.getByTestId('train-data-preview').innerText()).toContain('First Citizen');
    // The planner's estimate for these settings is shown before Start.
    await until(page, `Number(document.querySelector('[data-testid="train-plan-total"]')?.getAttribute('data-value')) > 0`, 30_000);
    expect(await page.getByTestId('train-start').isDisabled()).toBe(false);
  });

  it(`trains ${STEPS} steps: the chart grows, the loss falls, Pause holds the run and Resume goes on, the page never blocks`, async () => {
    await watch(page);
    const t0 = Date.now();
    await page.getByTestId('train-start').click();
    await until(page, `${stepShown} >= 3`);
    const pointsEarly = await num(page, 'loss-chart', 'data-points');

    await page.getByTestId('train-pause').click();
    await until(page, statusIs('paused'), 60_000);
    const heldAt = await num(page, 'train-step');
    const heldPoints = await num(page, 'loss-chart', 'data-points');
    await page.waitForTimeout(1500);
    expect(await num(page, 'train-step')).toBe(heldAt);
    expect(await num(page, 'loss-chart', 'data-points')).toBe(heldPoints);
    expect(await page.getByTestId('train-pause').textContent()).toBe('Resume');
    await page.getByTestId('train-pause').click();
    await until(page, statusIs('running', 'done'), 60_000);

    await until(page, `${stepShown} >= ${Math.min(STEPS, heldAt + 3)}`);
    const pointsMid = await num(page, 'loss-chart', 'data-points');
    await until(page, statusIs('done', 'error'));
    const seconds = (Date.now() - t0) / 1000;
    const { losses, steps, longTasks } = await readWatch(page);
    await page.getByTestId('train-panel').screenshot({ path: join(ROOT, 'test-results/train-panel.png') });

    const evalBefore = await num(page, 'train-eval', 'data-before');
    const evalAfter = await num(page, 'train-eval', 'data-after');
    const speed = await num(page, 'train-speed');
    const after = await page.getByTestId('sample-after').textContent();
    const before = await page.getByTestId('sample-before').textContent();
    console.log(
      `${STEPS} steps in ${seconds.toFixed(1)} s (paused at step ${heldAt}); chart ${pointsEarly} → ${pointsMid} → ${await num(page, 'loss-chart', 'data-points')} points; ` +
        `losses ${losses.map((l) => l.toFixed(2)).join(' ')}; held-out ${evalBefore.toFixed(3)} → ${evalAfter.toFixed(3)}; ${speed.toFixed(0)} tokens/s; ` +
        `samples ${JSON.stringify(before)} → ${JSON.stringify(after)}; long tasks ${JSON.stringify(longTasks)}`,
    );

    expect(await page.getByTestId('train-status').textContent()).toBe('done');
    expect(await attr(page, 'train-result', 'data-stop')).toBe('done');
    // The chart's data grew while the run went, one point per step.
    expect(pointsEarly).toBeGreaterThanOrEqual(3);
    expect(pointsMid).toBeGreaterThan(pointsEarly);
    expect(await num(page, 'loss-chart', 'data-points')).toBe(STEPS);
    expect(await num(page, 'loss-chart', 'data-eval-points')).toBe(2); // before and after
    // The steps were shown in order up to the last (points come in batches when steps are fast), and the
    // loss fell: the last five shown against the first three, and on the held-out windows.
    expect(steps.every((s, i) => i === 0 || s > steps[i - 1])).toBe(true);
    expect(steps.at(-1)).toBe(STEPS);
    expect(steps.length).toBeGreaterThanOrEqual(8);
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 3)));
    expect(evalAfter).toBeLessThan(evalBefore);
    expect(speed).toBeGreaterThan(0);
    expect(await page.getByTestId('train-speed').innerText()).toMatch(/^\d+ tokens\/s$/);
    expect(await num(page, 'train-gpu')).toBeGreaterThan(0);
    expect(before!.length).toBeGreaterThan(0);
    expect(after!.length).toBeGreaterThan(0);
    // The page's own thread never blocks while the worker trains (timer gaps measure machine load on SwiftShader).
    expect(longTasks.filter((d) => d >= RESPONSIVE_MS)).toEqual([]);

    // The Generate panel now offers the tuned model (the default): greedy, it continues the sample prompt as the run's after sample did.
    expect(await page.getByTestId('generate-model').inputValue()).toBe('tuned');
    await page.getByTestId('prompt').fill('Once upon a time');
    await page.getByTestId('max-tokens').fill('16');
    await page.getByTestId('temperature').fill('0');
    const genRun = Number(await attr(page, 'generate-panel', 'data-run-id'));
    await page.getByTestId('generate').click();
    await until(page, `Number(document.querySelector('[data-testid="generate-panel"]')?.getAttribute('data-run-id')) > ${genRun} && document.querySelector('[data-testid="generate-status"]')?.textContent === 'done'`);
    expect(await page.getByTestId('generate-output').textContent()).toBe(after);
    expect(await page.getByTestId('generate-stats').innerText()).toContain('(tuned model)');
  });

  it('Stop ends a long run between steps and keeps what was trained', async () => {
    await page.getByTestId('train-steps').fill('500');
    await until(page, `!document.querySelector('[data-testid="train-start"]')?.disabled`, 30_000);
    const before = Number(await attr(page, 'train-panel', 'data-run-id'));
    await page.getByTestId('train-start').click();
    await until(page, `Number(document.querySelector('[data-testid="train-panel"]')?.getAttribute('data-run-id')) > ${before} && ${stepShown} >= 3`);
    await page.getByTestId('train-stop').click();
    await until(page, statusIs('stopped', 'error'));
    const steps = Number(await attr(page, 'train-result', 'data-steps'));
    const result = await page.getByTestId('train-result').innerText();
    console.log(`stopped: ${result.replace(/\s+/g, ' ')}`);

    expect(await page.getByTestId('train-status').textContent()).toBe('stopped');
    expect(await attr(page, 'train-result', 'data-stop')).toBe('stopped');
    expect(steps).toBeGreaterThanOrEqual(3);
    expect(steps).toBeLessThan(20);
    expect(await num(page, 'loss-chart', 'data-points')).toBe(steps);
    expect(result).toContain('stopped early; what was trained is kept');
    // What was trained was still scored on the held-out windows and sampled.
    expect(Number.isFinite(await num(page, 'train-eval', 'data-after'))).toBe(true);
    expect(await attr(page, 'train-eval', 'data-after')).not.toBe('');
    expect((await page.getByTestId('sample-after').textContent())!.length).toBeGreaterThan(0);
    expect(await page.getByTestId('train-start').isDisabled()).toBe(false);
    // A stopped run is tuned too; loading a model again leaves it behind, and Generate no longer offers it.
    expect(await page.getByTestId('generate-model').count()).toBe(1);
    await page.getByTestId('pick-files').setInputFiles(GGUF!);
    // (The select goes as the load starts, so this cannot pass on the old load's 'ready'.)
    await until(page, `!document.querySelector('[data-testid="generate-model"]') && document.querySelector('[data-testid="model-status"]')?.textContent === 'ready'`, 60_000);
    expect(await page.getByTestId('generate').isDisabled()).toBe(false);
  });
});
