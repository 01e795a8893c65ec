// `sub4 eval` end to end through the real bin entry: the protocol on
// stories260K (ctx 128, 8 windows of tinyshakespeare) against llama.cpp's
// perplexity on the same windows (within 0.5 %), and the typed errors: missing
// or non-UTF-8 data, text too short for the windows, bad flags.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpuReady } from '../helpers/gpu_available.ts';
import { refLogits, refModel, refTokenize } from '../helpers/llamacpp.ts';
import { perplexity, pplWindows } from '../helpers/perplexity.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const fail = (args: string[]) => run('node', [BIN, ...args], { timeout: 120_000 }).then(() => ({ code: 0, stderr: '' }), (e) => e as { code: number; stderr: string });


describe('sub4 eval', () => {
  it('stories260K: perplexity within 0.5 % of llama.cpp on the same windows', { timeout: 120_000 }, async () => {
    const model = fixture('models/stories260K.gguf');
    const data = fixture('data/tinyshakespeare/input.txt');
    if (!model || !data || !gpuReady()) return;
    const { stdout } = await run('node', [BIN, 'eval', model, '--data', data, '--ctx', '128', '--windows', '8', '--json'], { timeout: 120_000 });
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
    const got = lines.at(-1);
    // Progress events come first: loading (bytes) then evaluating (tokens), each ending at its total.
    const progress = lines.slice(0, -1);
    expect(progress.every((l) => l.type === 'progress')).toBe(true);
    for (const [phase, unit] of [['load', 'bytes'], ['eval', 'tokens']]) {
      const ev = progress.filter((l) => l.phase === phase);
      expect(ev.length, phase).toBeGreaterThan(0);
      expect(ev.every((l) => l.unit === unit && l.done <= l.total && Number.isFinite(l.rate))).toBe(true);
      expect(ev.at(-1).done).toBe(ev.at(-1).total);
    }
    expect(progress.findIndex((l) => l.phase === 'eval')).toBeGreaterThan(progress.findLastIndex((l) => l.phase === 'load'));
    expect(progress.filter((l) => l.phase === 'eval').at(-1).total).toBe(8 * 128);
    expect(Object.keys(got).sort()).toEqual(['nll', 'ppl', 'tokens']);
    expect(got.tokens).toBe(8 * 127);
    expect(got.ppl).toBeCloseTo(Math.exp(got.nll), 6);
    const ref = await refModel(model);
    if (!ref) return;
    const want = await perplexity(pplWindows(refTokenize(ref, readFileSync(data, 'utf8')), ref.tokens.bos as number, 128, 8), (t) => refLogits(ref, t));
    console.log(`sub4 eval: ppl ${got.ppl.toFixed(4)}; llama.cpp ${want.ppl.toFixed(4)} (${(100 * (got.ppl / want.ppl - 1)).toFixed(3)} %)`);
    expect(got.tokens).toBe(want.tokens);
    expect(Math.abs(got.ppl / want.ppl - 1)).toBeLessThanOrEqual(0.005);
  });

  it('a missing data file is a clear error (exit 1)', async () => {
    const model = fixture('models/stories260K.gguf');
    if (!model) return;
    const r = await fail(['eval', model, '--data', '/nonexistent/text.txt']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/EvalDataError: \/nonexistent\/text\.txt: no such file/);
  });

  it('text too short for the windows, or not UTF-8, is a clear error before any GPU work (exit 1)', async () => {
    const model = fixture('models/stories260K.gguf');
    if (!model) return;
    const dir = mkdtempSync(join(tmpdir(), 'sub4-eval-'));
    const short = join(dir, 'short.txt');
    writeFileSync(short, 'Once upon a time there was a cat.\n');
    const r = await fail(['eval', model, '--data', short, '--ctx', '16', '--windows', '4']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/short\.txt: the text has \d+ tokens, but 4 windows of 16 tokens need 60; use a longer text/);
    const bin = join(dir, 'bin.txt');
    writeFileSync(bin, Uint8Array.from([0x41, 0xff, 0xfe, 0x42]));
    const r2 = await fail(['eval', model, '--data', bin]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/bin\.txt: is not UTF-8 text/);
  });

  it('usage errors exit 2', async () => {
    expect((await fail(['eval', '/x.gguf'])).code).toBe(2); // no --data
    const r = await fail(['eval', '/x.gguf', '--data', '/y.txt', '--ctx', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--ctx must be an integer ≥ 2/);
    expect((await fail(['eval', '/x.gguf', '--data', '/y.txt', '--windows', 'many'])).code).toBe(2);
  });
});
