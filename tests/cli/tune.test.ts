// `sub4 tune` end to end through the real bin entry: PEQA+LoRA on stories260K
// Q4_0 over a slice of Tiny Shakespeare with --json prints one line per step,
// the evals and a summary, and writes a trained state that reads back (θ moved
// from the file's scales, LoRA B moved from 0). Errors: PEQA on a model with no
// quantized layer (exit 1, typed), bad flags (exit 2).
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpuReady } from '../helpers/gpu_available.ts';
import { decodeTrainedState, STATE_MANIFEST_FILE, STATE_TENSORS_FILE } from '../../src/train/state.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const fail = (args: string[]) => run('node', [BIN, ...args], { timeout: 120_000 }).then(() => ({ code: 0, stderr: '' }), (e) => e as { code: number; stderr: string });

const q4 = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');
const f32 = fixture('models/stories260K.gguf');
const shakespeare = fixture('data/tinyshakespeare/input.txt');

function smallData(): { dir: string; data: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sub4-tune-'));
  const data = join(dir, 'shakespeare.txt');
  writeFileSync(data, readFileSync(shakespeare!, 'utf8').slice(0, 12000));
  return { dir, data };
}

describe('sub4 tune', () => {
  it('--json: step lines, evals, summary, and a state that reads back', { timeout: 120_000 }, async () => {
    if (!q4 || !shakespeare || !gpuReady()) return;
    const { dir, data } = smallData();
    const out = join(dir, 'run');
    const args = ['tune', q4, '--data', data, '--method', 'peqa+lora', '--rank', '4', '--steps', '6', '--batch', '2', '--seq', '32', '--eval-windows', '4', '--seed', '7', '--json', '--out', out];
    const { stdout } = await run('node', [BIN, ...args], { timeout: 120_000 });
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
    const steps = lines.filter((l) => l.type === 'step');
    expect(steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const s of steps) {
      expect(Number.isFinite(s.loss) && s.lr > 0 && s.tokensPerSecond > 0 && s.gpuBytes > 0).toBe(true);
    }
    const evals = lines.filter((l) => l.type === 'eval');
    expect(evals.map((e) => e.step)).toEqual([0, 6]);
    const summary = lines.at(-1);
    expect(summary).toMatchObject({ type: 'summary', stop: 'done', steps: 6, out });
    expect(summary.pplBefore).toBeCloseTo(evals[0].evalPpl, 10);
    console.log(`sub4 tune: loss ${steps[0].loss.toFixed(3)} → ${steps[5].loss.toFixed(3)}, ppl ${summary.pplBefore.toFixed(2)} → ${summary.pplAfter.toFixed(2)}, ${summary.tokensPerSecond.toFixed(0)} tokens/s`);

    const { manifest, tensors } = await decodeTrainedState(readFileSync(join(out, STATE_MANIFEST_FILE), 'utf8'), readFileSync(join(out, STATE_TENSORS_FILE)));
    expect(manifest).toMatchObject({ method: 'peqa+lora', trainMethod: 'peqa+lora', steps: 6, seed: 7, data: { file: 'shakespeare.txt', bytes: 12000 }, lora: { rank: 4, alpha: 4, scale: 1 } });
    expect(manifest.perplexity.after).toBeCloseTo(summary.pplAfter, 10);
    const kinds = new Set(manifest.tensors.map((t) => t.kind));
    expect([...kinds].sort()).toEqual(['lora-a', 'lora-b', 'peqa-theta']);
    // q..up of 5 layers have θ (down_proj is F16 in this file); all 7 roles × 5 layers have A and B.
    expect(manifest.tensors.filter((t) => t.kind === 'peqa-theta')).toHaveLength(30);
    expect(manifest.tensors.filter((t) => t.kind === 'lora-b')).toHaveLength(35);
    const b = tensors.get('layers.0.q.lora_b')!;
    expect(b.some((v) => v !== 0)).toBe(true); // B starts at 0: training moved it
    expect(tensors.get('layers.0.q.theta')!.every(Number.isFinite)).toBe(true);
  });

  it('PEQA on a model with no quantized layer is a typed error (exit 1)', { timeout: 120_000 }, async () => {
    if (!f32 || !shakespeare) return;
    const { dir, data } = smallData();
    const r = await fail(['tune', f32, '--data', data, '--method', 'peqa', '--steps', '1', '--out', join(dir, 'x')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/TrainConfigError: stories260K\.gguf: no linear layer is stored quantized.*--method lora/);
  });

  for (const method of ['peqa', 'lqlora'] as const)
    it(`--bits 2 --group 32 --method ${method} quantizes the f32 model first and lowers held-out perplexity`, { timeout: 120_000 }, async () => {
      if (!f32 || !shakespeare) return;
      const { dir, data } = smallData();
      const out = join(dir, method);
      const args = ['tune', f32, '--data', data, '--method', method, '--bits', '2', '--group', '32', '--rank', '4', '--steps', '8', '--batch', '2', '--seq', '32', '--eval-windows', '4', '--lr', '3e-3', '--json', '--out', out];
      const { stdout } = await run('node', [BIN, ...args], { timeout: 120_000 });
      const summary = stdout.trim().split('\n').map((l) => JSON.parse(l)).find((l) => l.type === 'summary');
      expect(summary.steps).toBe(8);
      expect(summary.pplAfter).toBeLessThan(summary.pplBefore);
      const manifest = JSON.parse(readFileSync(join(out, STATE_MANIFEST_FILE), 'utf8'));
      expect(manifest.quant).toEqual({ bits: 2, groupSize: 32 });
    });

  it('--format gguf exports in one go; a format the grid cannot hold is refused before training', { timeout: 120_000 }, async () => {
    if (!q4 || !shakespeare || !gpuReady()) return;
    const { dir, data } = smallData();
    const out = join(dir, 'run');
    await run('node', [BIN, 'tune', q4, '--data', data, '--method', 'peqa', '--steps', '2', '--batch', '1', '--seq', '32', '--eval-windows', '1', '--format', 'gguf', '--out', out], { timeout: 120_000 });
    expect(readdirSync(out).sort()).toEqual(['README.md', 'checkpoint.safetensors', 'stories260K-q4_0-peqa-Q4_0.gguf', STATE_MANIFEST_FILE, STATE_TENSORS_FILE].sort());
    const hf = fixture('models/stories260K');
    if (!hf) return;
    const r = await fail(['tune', hf, '--data', data, '--method', 'peqa', '--bits', '2', '--group', '32', '--format', 'gguf', '--out', join(dir, 'no')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/gguf export: 2-bit groups of 32 has no GGUF block type .*refused before training/);
    expect(r.stderr).not.toMatch(/planned peak/);
  });

  it('--method lqlora without --bits is a usage error', async () => {
    const r = await fail(['tune', '/x.gguf', '--data', '/y.txt', '--method', 'lqlora']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/lqlora needs --bits/);
  });

  it('usage errors exit 2', async () => {
    expect((await fail(['tune', '/x.gguf'])).code).toBe(2); // no --data
    const r = await fail(['tune', '/x.gguf', '--data', '/y.txt', '--method', 'full']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--method must be peqa, lora, peqa\+lora/);
    expect((await fail(['tune', '/x.gguf', '--data', '/y.txt', '--steps', '5', '--warmup', '9'])).code).toBe(2);
  });
});
