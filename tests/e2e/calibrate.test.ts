// The training panel's importance matrix and bit budget in the built app in
// Chromium (SwiftShader WebGPU): pick stories260K.gguf (F32), drop a slice of
// Tiny Shakespeare, "Calibrate on this data" (progress, then the summary: one
// entry per layer linear weight, windows × seq len tokens), save it as a
// .imatrix.gguf, then LQ-LoRA with the bit-budget slider: the plan's bits per
// weight stay within the slider's budget, it is importance-weighted, a lower
// budget gives a smaller plan, and Start trains a few steps on the plan's base,
// whose kept run offers its exports. The plan is quantized across the engine
// worker's pool of nested Web Workers (src/worker/quantize_pool.ts) and equals,
// row for row (types, bytes, total error), planBudget on one thread in Node with
// the saved matrix.
// The same through the CLI: `sub4 imatrix` and `sub4 tune --method lqlora --budget B --imatrix F`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { fixture } from '../helpers/fixtures.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { readImatrix } from '../../src/io/imatrix/index.ts';
import { defaultChoices } from '../../src/train/budget/candidates.ts';
import { planBudget } from '../../src/train/budget/plan.ts';
import { dropFile, haveChromium, openStudio, ROOT, startApp, type AppHarness } from './harness.ts';

const GGUF = fixture('models/stories260K.gguf');
const TEXT = fixture('data/tinyshakespeare/input.txt');
const SLICE_CHARS = 12_000;
const SEQ = 64;
/** stories260K: 5 layers × 7 linear weights. */
const LINEARS = 35;
const STEPS = 4;
const TIMEOUT_MS = 240_000;

const attr = async (page: Page, testId: string, name: string) => (await page.getByTestId(testId).getAttribute(name)) ?? '';
const num = async (page: Page, testId: string, name: string) => Number(await attr(page, testId, name));

function until(page: Page, fn: string, timeout = TIMEOUT_MS): Promise<unknown> {
  return page.waitForFunction(fn, undefined, { timeout, polling: 50 });
}

const testAttr = (id: string, name: string) => `document.querySelector('[data-testid="${id}"]')?.getAttribute('${name}')`;

describe.skipIf(!haveChromium || !GGUF || !TEXT)('importance matrix and bit budget in Chromium', () => {
  let app: AppHarness;
  let page: Page;
  /** The saved .imatrix.gguf (the first test's download). */
  let imatrixPath = '';

  beforeAll(async () => {
    app = await startApp();
    page = await openStudio(app);
  });

  afterAll(async () => {
    await app?.close();
  });

  it('Calibrate waits for a dataset, shows progress, then the summary; Save imatrix downloads a GGUF imatrix', async () => {
    await page.getByTestId('pick-files').setInputFiles(GGUF!);
    await until(page, `document.querySelector('[data-testid="model-status"]')?.textContent === 'ready'`, 60_000);
    expect(await page.getByTestId('calibrate').isDisabled()).toBe(true); // no data yet

    await dropFile(page, '[data-testid="train-data-drop"]', 'shakespeare.txt', readFileSync(TEXT!, 'utf8').slice(0, SLICE_CHARS), 'text/plain');
    await page.getByTestId('train-preset-lqlora2').click();
    await page.locator('[data-testid="train-advanced"] > summary').click();
    for (const [id, v] of [['train-steps', STEPS], ['train-seq', SEQ], ['train-batch', 2], ['train-eval-windows', 4], ['train-sample-tokens', 8], ['train-rank', 2]] as const)
      await page.getByTestId(id).fill(String(v));
    await until(page, `document.querySelector('[data-testid="train-data-counts"]')?.textContent.includes('windows of ${SEQ} tokens')`, 30_000);
    await until(page, `!document.querySelector('[data-testid="calibrate"]')?.disabled`, 30_000);

    // Cancel right after Calibrate: the worker stops before its next batch and keeps no matrix (on a fast machine the
    // collection may finish first; either way no error is shown and nothing is left running).
    await page.getByTestId('calibrate').click();
    await page.getByTestId('calibrate-cancel').click();
    await until(page, `${testAttr('calibration', 'data-status')} !== 'running'`, 60_000);
    const afterCancel = await attr(page, 'calibration', 'data-status');
    console.log(`calibration after Cancel: ${afterCancel}`);
    expect(['idle', 'ready']).toContain(afterCancel);
    expect(await page.locator('[data-testid="calibration"] [role="alert"]').count()).toBe(0);

    // Record every progress value the bar shows while the worker collects.
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { __calib: number[] }).__calib = seen;
      new MutationObserver(() => {
        const v = document.querySelector('[data-testid="calibration-progress"]')?.getAttribute('aria-valuenow');
        if (v !== null && v !== undefined && seen.at(-1) !== Number(v)) seen.push(Number(v));
      }).observe(document.body, { childList: true, subtree: true, attributes: true });
    });
    await page.getByTestId('calibrate').click();
    await until(page, `${testAttr('calibration', 'data-status')} === 'ready' || ${testAttr('calibration', 'data-status')} === 'error' || !!document.querySelector('[data-testid="calibration"] [role="alert"]')`);
    const seen = await page.evaluate(() => (window as unknown as { __calib: number[] }).__calib);
    const summary = await page.getByTestId('calibration-summary').innerText();
    const windows = Math.min(64, await num(page, 'train-data-counts', 'data-train-windows'));
    console.log(`calibration: progress ${JSON.stringify(seen)}; ${summary}`);
    expect(seen.length).toBeGreaterThan(0); // the bar was shown
    expect(await num(page, 'calibration-summary', 'data-entries')).toBe(LINEARS);
    expect(await num(page, 'calibration-summary', 'data-tokens')).toBe(windows * SEQ);
    expect(summary).toContain(`${LINEARS} entries`);

    const download = page.waitForEvent('download', { timeout: 30_000 });
    await page.getByTestId('calibration-save').click();
    const dl = await download;
    expect(dl.suggestedFilename()).toBe('stories260K.imatrix.gguf');
    const path = await dl.path();
    imatrixPath = path;
    const bytes = readFileSync(path);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('GGUF');
    expect(bytes.includes(Buffer.from('blk.0.attn_q.weight.in_sum2'))).toBe(true);
  });

  it('the bit-budget slider shows a plan within its budget (importance-weighted), smaller at a lower budget', async () => {
    await page.getByTestId('budget-on').check();
    const planAt = async (budget: string) => {
      const before = await page.getByTestId('budget-plan').getAttribute('data-budget').catch(() => null);
      await page.getByTestId('budget-slider').fill(budget);
      expect(await page.getByTestId('budget-value').textContent()).toBe(Number(budget).toFixed(1));
      if (before !== String(Number(budget))) await until(page, `${testAttr('budget-plan', 'data-budget')} === '${Number(budget)}' || !!document.querySelector('[data-testid="budget"] [role="alert"]')`);
      expect(await page.locator('[data-testid="budget"] [role="alert"]').count()).toBe(0);
      return { bits: await num(page, 'budget-plan', 'data-bits'), bytes: await num(page, 'budget-plan', 'data-bytes'), error: await num(page, 'budget-plan', 'data-error'), rows: await num(page, 'budget-plan', 'data-rows') };
    };
    const t0 = Date.now();
    const high = await planAt('6');
    const low = await planAt('4.5');
    console.log(`plans (${((Date.now() - t0) / 1000).toFixed(1)} s): budget 6 → ${high.bits.toFixed(3)} bpw, ${high.bytes} B, error ${high.error.toExponential(3)}; budget 4.5 → ${low.bits.toFixed(3)} bpw, ${low.bytes} B, error ${low.error.toExponential(3)}`);
    await page.locator('[data-testid="budget-plan"] > summary').click();
    console.log((await page.getByTestId('budget-table').innerText()).split('\n').slice(0, 6).join('\n'));
    expect(high.rows).toBe(LINEARS);
    expect(high.bits).toBeLessThanOrEqual(6);
    expect(low.bits).toBeLessThanOrEqual(4.5);
    expect(low.bytes).toBeLessThanOrEqual(high.bytes);
    expect(low.error).toBeGreaterThanOrEqual(high.error);
    expect(await page.getByTestId('budget-plan').locator('summary').innerText()).toContain('importance-weighted');
    expect(await page.getByTestId('budget-table').locator('tbody tr').count()).toBe(LINEARS);

    // The pool did the GGUF candidates' quantizing, and the plan is the one-thread plan (planBudget in Node, the
    // quantizers on this thread, weighted by the saved matrix): the same type and bytes per matrix, the same error.
    const workers = await num(page, 'budget-plan', 'data-pool-workers');
    const chunks = await num(page, 'budget-plan', 'data-pool-chunks');
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    console.log(`budget 4.5 plan: ${workers} pool workers (hardwareConcurrency ${cores}), ${chunks} chunks posted`);
    expect(workers).toBe(Math.max(1, cores));
    if (cores > 1) {
      expect(chunks).toBeGreaterThan(0);
      expect(await page.getByTestId('budget-plan').locator('summary').innerText()).toContain(`quantized across ${workers} workers`);
    }
    const shown = await page.getByTestId('budget-table').locator('tbody tr').evaluateAll((trs) =>
      trs.map((tr) => {
        const td = [...tr.querySelectorAll('td')].map((c) => c.textContent ?? '');
        return { name: td[0], type: td[1], bytes: Number(td[3].replace(/,/g, '')) };
      }),
    );
    const alpha = Number(await page.getByTestId('train-alpha').inputValue());
    const seed = Number(await page.getByTestId('train-seed').inputValue());
    expect(imatrixPath).not.toBe('');
    const m = await openModelPath(GGUF!);
    const src = await fileSource(imatrixPath);
    const imatrix = await readImatrix(src);
    await src.close?.();
    const t1 = Date.now();
    const one = await planBudget(m, { budget: 4.5, choices: defaultChoices(false), ranks: [2], alpha, seed, rounds: 2, imatrix }).finally(() => m.close());
    console.log(`one-thread plan in Node (${((Date.now() - t1) / 1000).toFixed(1)} s): ${one.bits.toFixed(3)} bpw, ${one.bytes} B, error ${one.error.toExponential(6)} vs the studio's ${low.error.toExponential(6)}`);
    expect(shown).toEqual(one.rows.map((r) => ({ name: r.name, type: r.type, bytes: r.bytes })));
    expect(low.bytes).toBe(one.bytes);
    expect(low.error).toBe(one.error);

    // Cancel mid-plan: a newer budget aborts the plan at 5 once it has measured a matrix (the pool destroyed, its
    // running chunks refused); the kept 4.5 plan comes back with nothing quantized, and no error is shown.
    await page.getByTestId('budget-slider').fill('5');
    await until(page, `${testAttr('budget', 'data-status')} === 'planning' && Number(${testAttr('budget', 'data-done')}) >= 1`);
    const t2 = Date.now();
    await page.getByTestId('budget-slider').fill('4.5');
    await until(page, `${testAttr('budget', 'data-status')} !== 'planning' && ${testAttr('budget-plan', 'data-budget')} === '4.5'`);
    console.log(`plan at 5 cancelled mid-plan: the kept 4.5 plan back after ${((Date.now() - t2) / 1000).toFixed(2)} s`);
    expect(await attr(page, 'budget', 'data-status')).toBe('ready');
    expect(await num(page, 'budget-plan', 'data-pool-chunks')).toBe(0);
    expect(await num(page, 'budget-plan', 'data-bytes')).toBe(one.bytes);
    expect(await page.locator('[data-testid="budget"] [role="alert"]').count()).toBe(0);
  });

  it(`Start trains ${STEPS} steps on the planned base`, async () => {
    await until(page, `!document.querySelector('[data-testid="train-start"]')?.disabled`, 60_000);
    await page.getByTestId('train-start').click();
    await until(page, `['done', 'error', 'stopped'].includes(document.querySelector('[data-testid="train-status"]')?.textContent ?? '')`);
    await page.getByTestId('train-panel').screenshot({ path: join(ROOT, 'test-results/calibrate-budget.png') });
    const result = await page.getByTestId('train-result').innerText().catch(async () => await page.getByTestId('train-panel').innerText());
    console.log(`budget run: ${result.replace(/\s+/g, ' ')}`);
    expect(await page.getByTestId('train-status').textContent()).toBe('done');
    expect(await num(page, 'train-result', 'data-steps')).toBe(STEPS);
    expect(result).toContain('Bit budget 4.5');
    expect(result).toContain('(importance-weighted)');
    expect(Number.isFinite(await num(page, 'train-eval', 'data-after'))).toBe(true);
    // The kept run rebuilds for export as `sub4 export` rebuilds a --budget state (its GGUF-typed layers included).
    await until(page, `['ready', 'error'].includes(document.querySelector('[data-testid="export-panel"]')?.getAttribute('data-choices'))`, 60_000);
    expect(await attr(page, 'export-panel', 'data-choices')).toBe('ready');
    const details = await page.locator('[data-testid="export-panel"] [data-testid$="-detail"]').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-testid')}: ${e.textContent}`));
    console.log(`export choices:\n${details.join('\n')}`);
    // Some formats hold the plan's mixed types (a sub4 grid has no GGUF type, so GGUF may be refused, saying why).
    const enabled = await page.locator('[data-testid="export-panel"] button[data-testid^="export-"]:not([disabled])').count();
    expect(enabled).toBeGreaterThan(0);
  });

  it('without a budget, a calibrated model\'s LQ-LoRA split is importance-weighted', async () => {
    await page.getByTestId('budget-on').uncheck();
    await until(page, `!document.querySelector('[data-testid="train-start"]')?.disabled`, 60_000);
    const before = Number(await attr(page, 'train-panel', 'data-run-id'));
    await page.getByTestId('train-start').click();
    await until(page, `Number(document.querySelector('[data-testid="train-panel"]')?.getAttribute('data-run-id')) > ${before} && ['done', 'error', 'stopped'].includes(document.querySelector('[data-testid="train-status"]')?.textContent ?? '')`);
    const result = await page.getByTestId('train-result').innerText();
    console.log(`weighted LQ-LoRA run: ${result.replace(/\s+/g, ' ')}`);
    expect(await page.getByTestId('train-status').textContent()).toBe('done');
    expect(result).toContain('LQ-LoRA weighted by the importance matrix of shakespeare.txt: 35 layers');
    expect(result).not.toContain('Bit budget');
    expect(result).toMatch(/LQ-LoRA: 35 layers quantized with a rank-2 correction; 35 weighted, mean weighted error \d/);
    expect(result).not.toContain('(round 1)'); // the per-layer lines stay out of the notes
  });
});
