// Data-aware LQ-LoRA (arXiv 2311.12023 §3.3) through the bin entry, on
// stories260K (F32 HF folder) and tinyshakespeare:
//   sub4 tune <model> --method lqlora --bits 2 --rank 4 --steps 0 [--weighting fisher --calib TEXT]
// scores the *initialised* model (no training step) on held-out text. Printed:
// the held-out perplexity unweighted and Fisher-weighted. Asserted: every
// layer's weighted error goes down over the alternating rounds (stable by
// construction), and — measured on this data, deterministic on SwiftShader,
// and by a wide margin (481 → 376 at 8 windows when written) — the Fisher-weighted
// start has the lower held-out perplexity; the same for --weighting imatrix
// (an imatrix by sub4 imatrix over the calibration text; 481 → 329). Plus the flag checks, and
// --budget --weighting fisher: the plan's errors weighted by the Fisher estimate (35 rows within the budget).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpuReady } from '../helpers/gpu_available.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const sub4 = (args: string[]) => run('node', [BIN, ...args], { timeout: 480_000, maxBuffer: 1 << 26 });
const shakespeare = fixture('data/tinyshakespeare/input.txt');
const model = fixture('models/stories260K');

async function fail(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await sub4(args);
  } catch (e) {
    const err = e as { code: number; stderr: string };
    return { code: err.code, stderr: err.stderr };
  }
  throw new Error(`sub4 ${args.join(' ')} succeeded`);
}

describe('tune --weighting: flag checks', () => {
  it('refuses --weighting without lqlora --bits, and its missing inputs', async () => {
    expect((await fail(['tune', '/x', '--data', '/y', '--method', 'lora', '--weighting', 'fisher', '--calib', '/z'])).stderr).toMatch(/--weighting weighs LQ-LoRA/);
    expect((await fail(['tune', '/x', '--data', '/y', '--method', 'lqlora', '--bits', '2', '--weighting', 'fisher'])).stderr).toMatch(/needs --calib/);
    expect((await fail(['tune', '/x', '--data', '/y', '--method', 'lqlora', '--bits', '2', '--weighting', 'imatrix'])).stderr).toMatch(/needs --imatrix/);
    expect((await fail(['tune', '/x', '--data', '/y', '--method', 'lqlora', '--bits', '2', '--weighting', 'hessian'])).stderr).toMatch(/--weighting must be/);
    expect((await fail(['tune', '/x', '--data', '/y', '--method', 'lqlora', '--bits', '2', '--calib', '/z'])).stderr).toMatch(/belong to --weighting fisher/);
    // With --budget: the Fisher estimate weighs the plan instead of an imatrix, so both at once are refused.
    expect((await fail(['tune', '/x', '--data', '/y', '--method', 'lqlora', '--budget', '3', '--weighting', 'fisher', '--calib', '/z', '--imatrix', '/w'])).stderr).toMatch(/drop --imatrix/);
    expect((await fail(['tune', '/x', '--data', '/y', '--method', 'lqlora', '--budget', '3', '--weighting', 'imatrix'])).stderr).toMatch(/needs --imatrix/);
  });
});

describe.skipIf(!(shakespeare && model && gpuReady()))('tune --weighting fisher on stories260K (2-bit, rank 4, initialised model)', () => {
  it('lowers every layer\'s weighted error over the rounds; prints the held-out perplexity unweighted and weighted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sub4-weighting-'));
    const text = readFileSync(shakespeare!, 'utf8');
    const cut = Math.floor(text.length * 0.9);
    writeFileSync(join(dir, 'train.txt'), text.slice(0, 40000));
    writeFileSync(join(dir, 'heldout.txt'), text.slice(cut, cut + 20000));
    const common = ['tune', model!, '--data', join(dir, 'train.txt'), '--eval-data', join(dir, 'heldout.txt'), '--method', 'lqlora', '--bits', '2', '--rank', '4', '--steps', '0', '--json'];
    const summary = (stdout: string) => JSON.parse(stdout.trim().split('\n').filter((l) => l.includes('"type":"summary"')).at(-1)!) as { pplBefore: number; steps: number };
    const plain = await sub4([...common, '--out', join(dir, 'plain')]);
    const fisher = await sub4([...common, '--weighting', 'fisher', '--calib', join(dir, 'train.txt'), '--calib-windows', '8', '--out', join(dir, 'fisher')]);
    const rounds = [...fisher.stderr.matchAll(/LQ-LoRA (\S+): weighted error ([\d.]+) \(round 1\) → ([\d.]+) \(round 3\)/g)];
    expect(rounds.length).toBe(35); // 5 layers × 7 linears
    for (const [, name, first, last] of rounds) expect(Number(last), name).toBeLessThan(Number(first));
    expect(fisher.stderr).toMatch(/weighted by the empirical Fisher over 8 windows of 128 tokens/);
    const [p, f] = [summary(plain.stdout), summary(fisher.stdout)];
    expect(p.steps).toBe(0);
    // --weighting imatrix: the column form from sub4 imatrix over the same text.
    await sub4(['imatrix', model!, '--data', join(dir, 'train.txt'), '--out', join(dir, 'w.imatrix.gguf'), '--ctx', '128', '--chunks', '32']);
    const im = await sub4([...common, '--weighting', 'imatrix', '--imatrix', join(dir, 'w.imatrix.gguf'), '--out', join(dir, 'imatrix')]);
    expect(im.stderr).toMatch(/weighted by .*w\.imatrix\.gguf: 35 layers/);
    expect([...im.stderr.matchAll(/weighted error ([\d.]+) \(round 1\) → ([\d.]+)/g)].every(([, a, b]) => Number(b) < Number(a))).toBe(true);
    const i = summary(im.stdout);
    console.log(`stories260K LQ-LoRA 2-bit rank 4, initialised, held-out perplexity: unweighted ${p.pplBefore.toFixed(3)}, Fisher-weighted (8 windows) ${f.pplBefore.toFixed(3)}, imatrix-weighted (32 chunks) ${i.pplBefore.toFixed(3)}`);
    expect(f.pplBefore).toBeLessThan(p.pplBefore);
    expect(i.pplBefore).toBeLessThan(p.pplBefore);
  }, 480_000);
});

describe.skipIf(!(shakespeare && model && gpuReady()))('tune --budget --weighting fisher on stories260K', () => {
  it('plans under the budget with the errors weighted by the Fisher estimate, not unweighted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sub4-weighting-budget-'));
    writeFileSync(join(dir, 'train.txt'), readFileSync(shakespeare!, 'utf8').slice(0, 40000));
    const common = ['tune', model!, '--data', join(dir, 'train.txt'), '--method', 'lqlora', '--budget', '5.5', '--rank', '4', '--steps', '0', '--types', 'sub4-2bit-g32,sub4-3bit-g32,sub4-4bit-g32,Q4_0,Q8_0', '--eval-windows', '0'];
    const plan = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('model.layers.') || l.startsWith('total: '));
    const plain = plan((await sub4([...common, '--out', join(dir, 'plain')])).stdout);
    const r = await sub4([...common, '--weighting', 'fisher', '--calib', join(dir, 'train.txt'), '--calib-windows', '4', '--out', join(dir, 'fisher')]);
    const fisher = plan(r.stdout);
    console.log(fisher.join('\n'));
    expect(r.stderr).toMatch(/weighted by the empirical Fisher over 4 windows of 128 tokens/);
    expect(r.stderr).toMatch(/measuring 5 types at LoRA rank 4 on every linear layer, weighted by the Fisher estimate/);
    expect(fisher).toHaveLength(36); // 35 matrices + the totals
    expect(fisher.at(-1)).toMatch(/error [\d.e+-]+ \(Fisher-weighted\)$/);
    expect(Number(/= ([\d.]+) bits per weight/.exec(fisher.at(-1)!)![1])).toBeLessThanOrEqual(5.5);
    // Another weighting, other errors (the Fisher's scale is not the plain Frobenius norm's).
    const err = (rows: string[]) => rows.slice(0, -1).map((l) => l.trim().split(/\s+/)[5]);
    expect(err(fisher)).not.toEqual(err(plain));
  }, 480_000);
});
