// Shared by the `sub4 tune --method lqlora --budget` tests (tests/cli/tune_budget*.test.ts):
// the run's data, the bits per linear weight counted from the exported files, and
// the two perplexities compared (sub4 eval of the state, llama.cpp with the adapter).
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { fixture } from './fixtures.ts';
import { refLogits, refModel, refTokenize } from './llamacpp.ts';
import { perplexity, pplWindows } from './perplexity.ts';
import { readGguf } from '../../src/io/gguf/reader.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { ggmlTypeName } from '../../src/quant/formats.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
export const sub4 = (args: string[]) => run('node', [BIN, ...args], { timeout: 800_000, maxBuffer: 1 << 26 });
export const shakespeare = fixture('data/tinyshakespeare/input.txt');
export const budgetModel = fixture('models/random-llama-256/random-llama-256-F32.gguf');
const CTX = 128;
const WINDOWS = 4;
const LINEAR = /^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;

/** A temporary folder with 16000 characters to train on and 20000 held out. */
export function budgetData() {
  const dir = mkdtempSync(join(tmpdir(), 'sub4-budget-'));
  const text = readFileSync(shakespeare!, 'utf8');
  const cut = Math.floor(text.length * 0.9);
  writeFileSync(join(dir, 'train.txt'), text.slice(0, 16000));
  writeFileSync(join(dir, 'heldout.txt'), text.slice(cut, cut + 20000));
  return { dir, train: join(dir, 'train.txt'), heldout: join(dir, 'heldout.txt') };
}

/**
 * Bits per linear weight counted from the exported files: (Σ bytes of the GGUF's
 * blk.*.{attn_q,…,ffn_down}.weight + Σ values of the adapter's .lora_a/.lora_b × 2
 * bytes) · 8 / Σ elements of those GGUF tensors — the adapter values at 16 bits,
 * the plan's stated convention (the file stores F32). `ranks`: each adapter
 * tensor pair's rank (lora_a's ne[1]), by its GGUF base name.
 */
export async function filesBits(ggufPath: string, adapterPath: string): Promise<{ bits: number; types: Map<string, string>; ranks: Map<string, number> }> {
  const g = await readGguf(await fileSource(ggufPath));
  const a = await readGguf(await fileSource(adapterPath));
  await g.source.close?.();
  await a.source.close?.();
  let bytes = 0;
  let weights = 0;
  const types = new Map<string, string>();
  for (const t of g.tensors)
    if (LINEAR.test(t.name)) {
      bytes += t.nbytes;
      weights += t.nelements;
      types.set(t.name, ggmlTypeName(t.type));
    }
  let loraValues = 0;
  const ranks = new Map<string, number>();
  for (const t of a.tensors) {
    if (/\.lora_[ab]$/.test(t.name)) loraValues += t.nelements;
    if (t.name.endsWith('.lora_a')) ranks.set(t.name.replace(/\.lora_a$/, ''), Number(t.ne[1]));
  }
  expect(weights).toBe(1_572_864); // 2 layers × (2·256² + 2·128·256 + 3·768·256)
  return { bits: (8 * (bytes + 2 * loraValues)) / weights, types, ranks };
}

export const evalPpl = async (state: string, heldout: string) =>
  JSON.parse((await sub4(['eval', state, '--data', heldout, '--ctx', `${CTX}`, '--windows', `${WINDOWS}`, '--json'])).stdout.trim().split('\n').at(-1)!).ppl as number;

export async function llamaCppPpl(path: string, heldout: string, lora: string): Promise<number> {
  const ref = await refModel(path);
  if (!ref) throw new Error('node-llama-cpp is not available');
  const wins = pplWindows(refTokenize(ref, readFileSync(heldout, 'utf8')), ref.tokens.bos as number, CTX, WINDOWS);
  return (await perplexity(wins, (t) => refLogits(ref, t, { lora }))).ppl;
}

/**
 * `sub4 tune <F32> --method lqlora --budget B … --format gguf-lora`, then the checks every budget run
 * shares: the plan printed before the first step (14 rows, ≤ B), the files' bits (≤ B, = the plan's),
 * the model card's plan, and llama.cpp + adapter within 0.5 % of `sub4 eval` on the state.
 */
export async function budgetRun(budget: number, extra: string[], steps = 4) {
  const { dir, train, heldout } = budgetData();
  const out = join(dir, 'out');
  const r = await sub4(['tune', budgetModel!, '--method', 'lqlora', '--budget', `${budget}`, ...extra, '--steps', `${steps}`, '--batch', '2', '--seq', '64', '--lr', '3e-3', '--eval-windows', '2', '--format', 'gguf-lora', '--data', train, '--out', out]);
  // The plan: one row per linear matrix (14), then the totals, before the first step.
  const lines = r.stdout.split('\n');
  const total = lines.findIndex((l) => l.startsWith('total: '));
  expect(total).toBeGreaterThan(0);
  expect(lines.findIndex((l) => l.startsWith('step 1/'))).toBeGreaterThan(total);
  const rows = lines.slice(0, total).filter((l) => l.startsWith('model.layers.'));
  expect(rows).toHaveLength(14);
  console.log(lines.slice(0, total + 1).join('\n'));
  const planBits = Number(/= ([\d.]+) bits per weight/.exec(lines[total])![1]);
  expect(planBits).toBeLessThanOrEqual(budget);
  const files = readdirSync(out);
  const ggufName = files.find((f) => f.endsWith('.gguf') && f !== 'adapter.gguf')!;
  expect(files).toContain('adapter.gguf');
  const measured = await filesBits(join(out, ggufName), join(out, 'adapter.gguf'));
  console.log(`bits per weight from the files: ${measured.bits.toFixed(4)} (plan ${planBits}); types ${[...new Set(measured.types.values())].join(', ')}`);
  expect(measured.bits).toBeLessThanOrEqual(budget);
  expect(measured.bits).toBeCloseTo(planBits, 3);
  // The model card carries the plan.
  expect(readFileSync(join(out, 'README.md'), 'utf8')).toContain('model.layers.1.mlp.down_proj.weight');
  const tuned = await evalPpl(out, heldout);
  const ref = await llamaCppPpl(join(out, ggufName), heldout, join(out, 'adapter.gguf'));
  console.log(`llama.cpp with the adapter ${ref.toFixed(4)} vs sub4 eval of the state ${tuned.toFixed(4)} (${(100 * (ref / tuned - 1)).toFixed(3)} %)`);
  expect(Math.abs(ref / tuned - 1)).toBeLessThanOrEqual(0.005);
  return { lines, measured };
}
