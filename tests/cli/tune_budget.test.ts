// LQ-LoRA under a bit budget end to end through the bin entry:
//   sub4 tune <f32 model> --method lqlora --budget B --format gguf-lora
// prints the per-matrix plan before training, writes a mixed-type GGUF (each
// blk.* linear layer in its chosen type) and the llama.cpp adapter, and:
//  - the bits per weight counted from the files themselves stay within the
//    budget: (Σ bytes of the GGUF's blk.*.{attn_q,attn_k,attn_v,attn_output,
//    ffn_gate,ffn_up,ffn_down}.weight tensors + Σ values of the adapter's
//    .lora_a/.lora_b tensors × 2 bytes) · 8 / Σ elements of those GGUF
//    tensors. The adapter values are counted at 16 bits, the plan's stated
//    convention (the adapter file itself stores them as F32, which would be
//    twice that);
//  - llama.cpp (node-llama-cpp) on that GGUF with the adapter reproduces
//    `sub4 eval <state>` perplexity within 0.5 %;
//  - a budget below the cheapest plan is refused, naming the minimum.
// The 2.5-bit run needs types below Q2_K's 2.625 bits (TQ1_0/TQ2_0, the grid
// i-quants), which the engine runs through its codebook path (src/gpu/vq_gpu.ts:
// measured with main's kernels, TQ1_0 + Q2_K, 2.4935 bits, 0.18 % from llama.cpp);
// a scalar-types run (--types) at 3.5 bits checks the same pipeline on the
// K-quant / legacy kernels.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpuReady } from '../helpers/gpu_available.ts';
import { refLogits, refModel, refTokenize } from '../helpers/llamacpp.ts';
import { perplexity, pplWindows } from '../helpers/perplexity.ts';
import { readGguf } from '../../src/io/gguf/reader.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { ggmlTypeName } from '../../src/quant/formats.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const sub4 = (args: string[]) => run('node', [BIN, ...args], { timeout: 480_000, maxBuffer: 1 << 26 });
const shakespeare = fixture('data/tinyshakespeare/input.txt');
const model = fixture('models/random-llama-256/random-llama-256-F32.gguf');
const CTX = 128;
const WINDOWS = 4;
const LINEAR = /^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'sub4-budget-'));
  const text = readFileSync(shakespeare!, 'utf8');
  const cut = Math.floor(text.length * 0.9);
  writeFileSync(join(dir, 'train.txt'), text.slice(0, 16000));
  writeFileSync(join(dir, 'heldout.txt'), text.slice(cut, cut + 20000));
  return { dir, train: join(dir, 'train.txt'), heldout: join(dir, 'heldout.txt') };
}

/** Bits per linear weight counted from the exported files (see the file comment). */
async function filesBits(ggufPath: string, adapterPath: string): Promise<{ bits: number; types: Map<string, string> }> {
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
  for (const t of a.tensors) if (/\.lora_[ab]$/.test(t.name)) loraValues += t.nelements;
  expect(weights).toBe(1_572_864); // 2 layers × (2·256² + 2·128·256 + 3·768·256)
  return { bits: (8 * (bytes + 2 * loraValues)) / weights, types };
}

const evalPpl = async (state: string, heldout: string) => JSON.parse((await sub4(['eval', state, '--data', heldout, '--ctx', `${CTX}`, '--windows', `${WINDOWS}`, '--json'])).stdout.trim().split('\n').at(-1)!).ppl as number;

async function llamaCppPpl(path: string, heldout: string, lora: string): Promise<number> {
  const ref = await refModel(path);
  if (!ref) throw new Error('node-llama-cpp is not available');
  const wins = pplWindows(refTokenize(ref, readFileSync(heldout, 'utf8')), ref.tokens.bos as number, CTX, WINDOWS);
  return (await perplexity(wins, (t) => refLogits(ref, t, { lora }))).ppl;
}

const ready = () => !!(shakespeare && model && gpuReady());

async function budgetRun(budget: number, extra: string[]) {
  const { dir, train, heldout } = setup();
  const out = join(dir, 'out');
  const r = await sub4(['tune', model!, '--method', 'lqlora', '--budget', `${budget}`, ...extra, '--steps', '4', '--batch', '2', '--seq', '64', '--lr', '3e-3', '--eval-windows', '2', '--format', 'gguf-lora', '--data', train, '--out', out]);
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

describe('sub4 tune --method lqlora --budget', () => {
  it('2.5 bits per weight with --format gguf-lora: the files hold ≤ 2.5 bits per weight; llama.cpp + adapter = sub4 eval', { timeout: 900_000 }, async () => {
    if (!ready()) return;
    await budgetRun(2.5, ['--rank', '4']);
  });

  it('3.5 bits per weight over the K-quant and legacy types only (--types): same checks', { timeout: 900_000 }, async () => {
    if (!ready()) return;
    const { measured } = await budgetRun(3.5, ['--rank', '4', '--types', 'Q2_K,Q3_K,Q4_K,Q5_K,Q6_K,Q8_0,Q4_0,Q4_1,Q5_0,Q5_1']);
    expect(new Set(measured.types.values()).size).toBeGreaterThan(1); // a mixed-type GGUF
  });

  it('refuses a budget below the cheapest plan, naming the minimum bits per weight', { timeout: 300_000 }, async () => {
    if (!(shakespeare && model)) return;
    const { dir, train } = setup();
    const err = await sub4(['tune', model!, '--method', 'lqlora', '--budget', '1', '--rank', '4', '--steps', '1', '--format', 'gguf-lora', '--types', 'Q2_K,Q4_K', '--data', train, '--out', join(dir, 'out')]).then(
      () => null,
      (e: { stderr: string; code: number }) => e,
    );
    expect(err).not.toBeNull();
    // Q2_K everywhere (2.625 bits) + rank-4 LoRA at 16 bits: 687104 − … → the message names the exact minimum.
    expect(err!.stderr).toMatch(/below the cheapest plan, which needs 3\.02\d\d bits per weight/);
    expect(err!.stderr).toMatch(/raise --budget to at least 3\.02\d\d/);
  });
});
