// `npm run bench -- tab_load [--layers N] [--mix Q4_K_M|Q4_0]`: the same model file
// opened and put on the GPU by the CLI's code in this process and by the studio in
// Chromium (the production build, WebGPU on the adapter Chromium finds; on this
// machine SwiftShader, as in the browser tests), with each one's split by phase:
//  - open: the header and tokenizer read and parsed, the facts summed (the tab's
//    split is what the model card shows: read, parse, facts);
//  - weights: every tensor read, decoded or converted and uploaded (the tab's is the
//    split the first Generate brings back: read, decode, convert, upload, …).
// The file is bench/load_model.ts's model of TinyLlama-1.1B's shape (random
// blocks; TinyLlama's tokenizer from the shared fixtures, which Generate needs).
// The tab reads the File the picker gives it, through Blob slices in the engine
// worker; the CLI reads with positional reads of the file. Ratios tab ÷ CLI are
// the figures to compare (same machine, same run); the CLI side here runs with
// glibc's huge pages as `sub4` does (bench/run.ts), which the browser cannot be given.
// Uses the browser tests' harness (tests/e2e/harness.ts: vite build + preview,
// Debian's Chromium) rather than a second copy of it. Runs only when asked for.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GpuContext } from '../src/gpu/device.ts';
import { openModelPath } from '../src/io/model.node.ts';
import { loadWeights } from '../src/model/weights.ts';
import { modelFacts } from '../src/model/facts.ts';
import { PhaseClock } from '../src/base/phase_clock.ts';
import type { LoadSplit } from '../src/worker/protocol.ts';
import { openStudio, startApp } from '../tests/e2e/harness.ts';
import { writeLoadModel, type LoadMix } from './load_model.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : (process.argv[i + 1] ?? '');
};
const round = (x: number, d = 3) => +x.toFixed(d);
const seconds = (s: LoadSplit) => ({ total_s: round(s.totalMs / 1000), phases_s: Object.fromEntries(Object.entries(s.phases).map(([k, v]) => [k, round(v / 1000)])) });
const TIMEOUT_MS = 30 * 60_000;

/** The CLI's path in this process: openModelPath + facts, then loadWeights, each split like the tab's. */
async function cliSplit(ctx: GpuContext, path: string): Promise<{ open: LoadSplit; weights: LoadSplit }> {
  const t0 = performance.now();
  const file = await openModelPath(path);
  const opened = performance.now();
  modelFacts(file);
  const open = { totalMs: performance.now() - t0, phases: { 'read+parse': opened - t0, facts: performance.now() - opened } };
  const clock = new PhaseClock();
  const t1 = performance.now();
  const w = await loadWeights(ctx, file, { clock });
  await ctx.device.queue.onSubmittedWorkDone();
  const weights = { totalMs: performance.now() - t1, phases: { ...clock.ms } };
  w.destroy();
  await file.close();
  return { open, weights };
}

/** The studio: pick the file, read the card's open split, Generate one token, read the weights' split. */
async function tabSplit(path: string): Promise<{ open: LoadSplit; weights: LoadSplit; pickToReadyS: number; generateS: number }> {
  const app = await startApp();
  try {
    const page = await openStudio(app);
    const t0 = Date.now();
    await page.getByTestId('pick-files').setInputFiles(path);
    await page.waitForFunction(() => /^(ready|error)$/.test(document.querySelector('[data-testid="model-status"]')?.textContent ?? ''), undefined, { timeout: TIMEOUT_MS, polling: 50 });
    if ((await page.getByTestId('model-status').textContent()) !== 'ready') throw new Error(`the tab could not open ${path}: ${await page.getByTestId('model-error').innerText()}`);
    const pickToReadyS = (Date.now() - t0) / 1000;
    const open = JSON.parse((await page.getByTestId('model-load-times').getAttribute('data-split'))!) as LoadSplit;
    await page.getByTestId('prompt').fill('Once');
    await page.getByTestId('max-tokens').fill('1');
    const t1 = Date.now();
    await page.getByTestId('generate').click();
    await page.waitForFunction(() => /^(done|stopped|error)$/.test(document.querySelector('[data-testid="generate-status"]')?.textContent ?? ''), undefined, { timeout: TIMEOUT_MS, polling: 200 });
    const generateS = (Date.now() - t1) / 1000;
    const split = await page.getByTestId('model-weights-times').getAttribute('data-split');
    if (!split) throw new Error(`Generate ended ${await page.getByTestId('generate-status').textContent()} without putting the weights on the GPU`);
    return { open, weights: JSON.parse(split) as LoadSplit, pickToReadyS, generateS };
  } finally {
    await app.close();
  }
}

export async function* tabLoadBench(ctx: GpuContext) {
  const layers = Number(arg('layers') ?? 22);
  const mix = (arg('mix') ?? 'Q4_K_M') as LoadMix;
  const dir = mkdtempSync(join(tmpdir(), 'sub4-tab-load-'));
  try {
    const path = join(dir, `tinyllama-shape-${layers}L-${mix}.gguf`);
    const bytes = await writeLoadModel(path, mix, layers);
    // The tab first, while this process holds no weights; then the CLI path, same file, page cache as warm.
    const tab = await tabSplit(path);
    const cli = await cliSplit(ctx, path);
    const mbps = (s: LoadSplit) => round(bytes / 1e6 / (s.totalMs / 1000), 1);
    yield { bench: 'tab_load', where: 'cli', mix, layers, file_bytes: bytes, open: seconds(cli.open), weights: { ...seconds(cli.weights), mb_per_s: mbps(cli.weights) } };
    yield {
      bench: 'tab_load', where: 'tab', mix, layers, file_bytes: bytes, pick_to_ready_s: round(tab.pickToReadyS), open: seconds(tab.open),
      weights: { ...seconds(tab.weights), mb_per_s: mbps(tab.weights) }, first_generate_s: round(tab.generateS),
      baseline: 'cli', open_vs_cli: round(tab.open.totalMs / cli.open.totalMs, 2), weights_vs_cli: round(tab.weights.totalMs / cli.weights.totalMs, 2),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
