// `sub4 convert`: byte-identical to llama-quantize for every legacy type from
// the F32 GGUF, and a Hugging Face folder converted to Q8_0 loads in llama.cpp
// with the same perplexity as llama.cpp's own Q8_0 file (within 0.1 %).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { refLogits, refModel, refTokenize } from '../helpers/llamacpp.ts';
import { perplexity, pplWindows } from '../helpers/perplexity.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'sub4-convert-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function convert(input: string, type: string, out: string) {
  const { stdout } = await run('node', [BIN, 'convert', input, '--type', type, '--out', out, '--json']);
  return JSON.parse(stdout);
}

describe('sub4 convert', () => {
  const cases: [string, string, string][] = [
    ['models/stories260K.gguf', 'Q4_0', 'models/stories260K-quantized/stories260K-q4_0.gguf'],
    ['models/stories260K.gguf', 'Q4_1', 'models/stories260K-quantized/stories260K-q4_1.gguf'],
    ['models/stories260K.gguf', 'Q5_0', 'models/stories260K-quantized/stories260K-q5_0.gguf'],
    ['models/stories260K.gguf', 'Q5_1', 'models/stories260K-quantized/stories260K-q5_1.gguf'],
    ['models/stories260K.gguf', 'Q8_0', 'models/stories260K-quantized/stories260K-q8_0.gguf'],
    ['models/random-llama-256/random-llama-256-F32.gguf', 'Q4_0', 'models/random-llama-256/random-llama-256-Q4_0.gguf'],
    ['models/random-llama-256/random-llama-256-F32.gguf', 'Q8_0', 'models/random-llama-256/random-llama-256-Q8_0.gguf'],
  ];
  for (const [src, type, ref] of cases)
    it(`${src.split('/').pop()} → ${type} equals llama.cpp's file byte for byte`, async () => {
      const [s, r] = [fixture(src), fixture(ref)];
      if (!s || !r) return;
      const out = join(dir, `${type}.gguf`);
      await convert(s, type, out);
      const got = readFileSync(out);
      const want = readFileSync(r);
      const first = got.findIndex((b, i) => b !== want[i]);
      expect(got.length, 'file size').toBe(want.length);
      expect(first, `first differing byte`).toBe(-1);
    });

  it('HF folder → Q8_0 loads in llama.cpp with the perplexity of llama.cpp\'s Q8_0 file (±0.1 %)', async () => {
    const [folder, ref, text] = [fixture('models/stories260K'), fixture('models/stories260K-quantized/stories260K-q8_0.gguf'), fixture('data/tinyshakespeare/input.txt')];
    if (!folder || !ref || !text) return;
    const out = join(dir, 'hf-q8_0.gguf');
    const res = await convert(folder, 'Q8_0', out);
    expect(res.tensorTypes.Q8_0).toBeGreaterThan(0);
    const ours = await refModel(out);
    const theirs = await refModel(ref);
    if (!ours || !theirs) return; // reason printed by the harness
    const sample = readFileSync(text, 'utf8').slice(0, 20000);
    const ids = refTokenize(theirs, sample);
    // Both files must tokenize the text the same way for the comparison to mean anything.
    expect(refTokenize(ours, sample)).toEqual(ids);
    const windows = pplWindows(ids, theirs.tokens.bos as number, 128, 8);
    const a = await perplexity(windows, (w) => refLogits(ours, w));
    const b = await perplexity(windows, (w) => refLogits(theirs, w));
    console.log(`llama.cpp perplexity over ${a.tokens} tokens: sub4-converted ${a.ppl.toFixed(4)}, llama.cpp Q8_0 ${b.ppl.toFixed(4)}`);
    expect(Math.abs(a.ppl / b.ppl - 1)).toBeLessThanOrEqual(0.001);
  });

  it('refuses a type it cannot write, with usage', async () => {
    const err = await run('node', [BIN, 'convert', 'x.gguf', '--type', 'Q3_K', '--out', join(dir, 'x.gguf')]).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/--type F32\|F16\|Q8_0\|Q4_0\|Q4_1\|Q5_0\|Q5_1/);
  });
});
