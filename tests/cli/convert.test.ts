// `sub4 convert`: byte-identical to llama-quantize for the legacy types and the
// K-quant mixes (Q2_K, Q3_K_M, Q4_K_M, Q5_K_M, Q6_K) from the F32 GGUF; with
// --pure --imatrix, blk.* tensors byte-identical to llama.cpp's importance-weighted
// encodings; refusals (a type that needs an imatrix, an unknown type); and a
// Hugging Face folder converted to Q8_0 loads in llama.cpp with the same
// perplexity as llama.cpp's own Q8_0 file (within 0.1 %).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { readGguf, readTensorBytes } from '../../src/io/gguf/reader.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { ggmlTypeName } from '../../src/quant/formats.ts';
import { fixture } from '../helpers/fixtures.ts';
import { refLogits, refModel, refTokenize } from '../helpers/llamacpp.ts';
import { perplexity, pplWindows } from '../helpers/perplexity.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'sub4-convert-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function convert(input: string, type: string, out: string, extra: string[] = []) {
  const { stdout } = await run('node', [BIN, 'convert', input, '--type', type, '--out', out, '--json', ...extra]);
  return JSON.parse(stdout);
}

/** name → [type name, tensor bytes] of a GGUF. */
async function tensorsOf(path: string): Promise<Map<string, [string, Uint8Array]>> {
  const src = await fileSource(path);
  try {
    const f = await readGguf(src);
    const out = new Map<string, [string, Uint8Array]>();
    for (const t of f.tensors) out.set(t.name, [ggmlTypeName(t.type), await readTensorBytes(f, t)]);
    return out;
  } finally {
    await src.close?.();
  }
}

const R = 'models/random-llama-256';

describe('sub4 convert', () => {
  const cases: [string, string, string][] = [
    ['models/stories260K.gguf', 'Q4_0', 'models/stories260K-quantized/stories260K-q4_0.gguf'],
    ['models/stories260K.gguf', 'Q4_1', 'models/stories260K-quantized/stories260K-q4_1.gguf'],
    ['models/stories260K.gguf', 'Q5_0', 'models/stories260K-quantized/stories260K-q5_0.gguf'],
    ['models/stories260K.gguf', 'Q5_1', 'models/stories260K-quantized/stories260K-q5_1.gguf'],
    ['models/stories260K.gguf', 'Q8_0', 'models/stories260K-quantized/stories260K-q8_0.gguf'],
    ['models/random-llama-256/random-llama-256-F32.gguf', 'Q4_0', 'models/random-llama-256/random-llama-256-Q4_0.gguf'],
    ['models/random-llama-256/random-llama-256-F32.gguf', 'Q8_0', 'models/random-llama-256/random-llama-256-Q8_0.gguf'],
    // llama-quantize's K-quant mixes (per-tensor types from llama_tensor_get_type_impl)
    ...['Q2_K', 'Q3_K_M', 'Q4_K_M', 'Q5_K_M', 'Q6_K'].map((t): [string, string, string] => [`${R}/random-llama-256-F32.gguf`, t, `${R}/random-llama-256-${t}.gguf`]),
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

  // The pure-type fixtures were written by a script, not llama-quantize: token_embd Q8_0 and output Q6_K
  // (no --pure rule gives that; --pure gives them the blk type), file_type 0, another tensor order.
  // So only the blk.* tensors are compared, byte for byte; all of them are imatrix-weighted.
  const NEEDS_IMATRIX = new Set(['IQ1_S', 'IQ2_XXS', 'IQ2_XS']);
  for (const [type, ref] of [
    ...['Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1'].map((t) => [t, `random-llama-256-imat-${t}.gguf`]),
    ...['IQ1_S', 'IQ1_M', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ3_XXS', 'IQ3_S', 'IQ4_NL', 'IQ4_XS', 'TQ1_0', 'TQ2_0', 'MXFP4', 'NVFP4'].map((t) => [t, `random-llama-256-${t}.gguf`]),
  ])
    it(`--type ${type}${NEEDS_IMATRIX.has(type) ? '' : ' --pure'} --imatrix: its ${type} tensors equal llama.cpp's ${ref} byte for byte`, async () => {
      const [s, r, im] = [fixture(`${R}/random-llama-256-F32.gguf`), fixture(`${R}/${ref}`), fixture(`${R}/random-llama-256.imatrix.gguf`)];
      if (!s || !r || !im) return;
      const out = join(dir, `pure-${type}.gguf`);
      // IQ1_S, IQ2_XXS and IQ2_XS cannot be pure: the imatrix has no entry for output/token_embd, and
      // ggml_quantize_chunk requires one for these types (llama-quantize would abort). Their file type's mix
      // (llama-quantize's default) stores most blk.* tensors in the type; those are compared.
      const res = await convert(s, type, out, NEEDS_IMATRIX.has(type) ? ['--imatrix', im] : ['--pure', '--imatrix', im]);
      if (!NEEDS_IMATRIX.has(type)) expect(res.tensors.find((t: { name: string }) => t.name === 'token_embd.weight').type).toBe(type);
      const [got, want] = [await tensorsOf(out), await tensorsOf(r)];
      const blk = [...want.keys()].filter((n) => n.startsWith('blk.') && want.get(n)![0] === type && got.get(n)?.[0] === type);
      console.log(`${type}: ${blk.length} of ${[...want.keys()].filter((n) => n.startsWith('blk.')).length} blk.* tensors (norms included) written in ${type}, compared byte for byte`);
      if (NEEDS_IMATRIX.has(type)) expect(blk.length).toBeGreaterThanOrEqual(10);
      else expect(blk.length).toBe(14);
      for (const n of blk) {
        expect(got.get(n)?.[0], n).toBe(type);
        const [a, b] = [got.get(n)![1], want.get(n)![1]];
        expect(a.length, n).toBe(b.length);
        expect(a.findIndex((x, i) => x !== b[i]), `${n}: first differing byte`).toBe(-1);
      }
    });

  it('refuses IQ2_XXS without --imatrix, naming the tensor, the type and the flag; nothing is written', async () => {
    const s = fixture(`${R}/random-llama-256-F32.gguf`);
    if (!s) return;
    const out = join(dir, 'iq2xxs.gguf');
    const err = await run('node', [BIN, 'convert', s, '--type', 'IQ2_XXS', '--out', out]).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/blk\.0\.\w+\.weight/);
    expect(err.stderr).toMatch(/IQ2_XXS/);
    expect(err.stderr).toMatch(/--imatrix/);
    expect(existsSync(out) || existsSync(`${out}.partial`)).toBe(false);
  });

  it('refuses an unknown type, with the usage listing the types', async () => {
    const err = await run('node', [BIN, 'convert', 'x.gguf', '--type', 'Q7_K', '--out', join(dir, 'x.gguf')]).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/--type/);
    for (const t of ['Q4_K_M', 'IQ2_M', 'IQ3_XXS', 'Q2_K_S', 'TQ1_0', 'Q4_K', 'MXFP4']) expect(err.stderr).toContain(t);
  });
});
