// Perplexity of one fixture model in sub4 and in llama.cpp (node-llama-cpp,
// CPU) over the same windows of tinyshakespeare (the shared protocol of
// tests/helpers/perplexity.ts). Used by the f32 acceptance
// (tests/gpu/model_llamacpp.test.ts) and the f16 one (tests/gpu/model_f16.test.ts).
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { GpuContext } from '../../src/gpu/device.ts';
import { fixture } from './fixtures.ts';
import { refLogits, refModel, refTokenize } from './llamacpp.ts';
import { perplexity, pplWindows, type PplResult } from './perplexity.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { evalWindows, perplexityOf, tokenizePrefix } from '../../src/model/eval.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { loadWeights } from '../../src/model/weights.ts';

/** A text prefix of whole lines, far longer than any window set here needs (tokenizing 1 MB costs seconds). */
export function dataText(): string | null {
  const p = fixture('data/tinyshakespeare/input.txt');
  if (!p) return null;
  const text = readFileSync(p, 'utf8');
  return text.slice(0, text.indexOf('\n', 100_000) + 1);
}

/** The llama.cpp model that holds the same weights (the HF folder was derived from the GGUF). */
export const refPathOf = (rel: string) => fixture(rel.endsWith('.gguf') ? rel : `${rel}.gguf`);

export async function openOnGpu(ctx: GpuContext, path: string) {
  const file = await openModelPath(path);
  const weights = await loadWeights(ctx, file);
  return { file, model: new LlamaModel(ctx, weights), close: async () => (weights.destroy(), await file.close()) };
}

/** llama.cpp's results by model and windows: a test scoring one model on two devices asks llama.cpp once. */
const refPpl = new Map<string, PplResult>();

/**
 * sub4's and llama.cpp's perplexity of fixture `rel` over `windows` windows of
 * `ctxLen` tokens, after checking both score the same tokens; null when a
 * fixture is missing (fixture() has printed why, or thrown under SUB4_REQUIRE_FIXTURES=1).
 */
export async function pplVsLlamaCpp(ctx: GpuContext, rel: string, ctxLen: number, windows: number) {
  const path = fixture(rel);
  const refPath = refPathOf(rel);
  const text = dataText();
  if (!path || !refPath || !text) return null;
  const ref = await refModel(refPath);
  if (!ref) return null;
  const refWindows = pplWindows(refTokenize(ref, text), ref.tokens.bos as number, ctxLen, windows);
  const s = await openOnGpu(ctx, path);
  try {
    const tok = s.file.tokenizer!;
    const ours = evalWindows(tokenizePrefix(tok, text, (ctxLen - 1) * windows), tok.bosId, ctxLen, windows, 'tinyshakespeare');
    expect(ours, 'sub4 and llama.cpp must score the same windows').toEqual(refWindows);
    const got = await perplexityOf(s.model, ours);
    const key = `${refPath} ${ctxLen} ${windows}`;
    if (!refPpl.has(key)) refPpl.set(key, await perplexity(refWindows, (t) => refLogits(ref, t)));
    const want = refPpl.get(key)!;
    expect(got.tokens).toBe(want.tokens);
    const diff = got.ppl / want.ppl - 1;
    const row = `${path.split('/').slice(-2).join('/')}: sub4 ppl ${got.ppl.toFixed(4)}, llama.cpp ${want.ppl.toFixed(4)}, diff ${(100 * diff).toFixed(3)} %`;
    return { sub4: got.ppl, llamacpp: want.ppl, diff, row };
  } finally {
    await s.close();
  }
}
