// The codebook ggml types against llama.cpp (node-llama-cpp, CPU) on its own
// encodings of random-llama-256 (every blk.* weight in the type; token_embd
// Q8_0, output Q6_K) and the real stories260K weights in IQ4_NL:
//  - perplexity by the shared protocol (tests/helpers/perplexity.ts) within
//    0.5 %; random-llama-256 one window of 128 tokens (SUB4_FULL_EVAL=1: 8),
//    stories260K-iq4_nl 8 windows;
//  - greedy decoding: sub4's generate() gives llama.cpp's first 32 tokens.
// The layers run on the codebook kernels (src/gpu/kernels/vqlinear.ts): the
// loaded linear layers are checked to be codebook tensors, not dense copies.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { fixture } from '../helpers/fixtures.ts';
import { refModel, refTokenize } from '../helpers/llamacpp.ts';
import { openOnGpu, pplVsLlamaCpp } from '../helpers/ppl_vs_llamacpp.ts';
import { generate } from '../../src/model/generate.ts';

const CTX = 128;
const FULL = process.env.SUB4_FULL_EVAL === '1';
const TYPES = ['IQ1_S', 'IQ1_M', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ3_XXS', 'IQ3_S', 'IQ4_NL', 'IQ4_XS', 'TQ1_0', 'TQ2_0', 'MXFP4', 'NVFP4'];
const RANDOM = TYPES.map((t) => `models/random-llama-256/random-llama-256-${t}.gguf`);
const STORIES = 'models/stories260K-quantized/stories260K-iq4_nl.gguf';
const PROMPT = 'Once upon a time';

describe('codebook types: perplexity vs llama.cpp', () => {
  for (const rel of [...RANDOM, STORIES]) {
    const windows = FULL || rel === STORIES ? 8 : 1;
    it(`${rel} (ctx ${CTX}, ${windows} windows)`, { timeout: 180_000 }, async () => {
      const r = await pplVsLlamaCpp(await gpu(), rel, CTX, windows);
      if (!r) return;
      console.log(r.row);
      expect(Math.abs(r.diff)).toBeLessThanOrEqual(0.005);
    });
  }
});

describe('codebook types: greedy generation vs llama.cpp', () => {
  for (const rel of [...RANDOM, STORIES])
    it(`${rel}: the same first 32 greedy tokens`, { timeout: 180_000 }, async () => {
      const path = fixture(rel);
      if (!path) return;
      const ref = await refModel(path);
      if (!ref) return;
      const prompt = refTokenize(ref, PROMPT, { addBos: true });
      const rctx = await ref.createContext({ contextSize: 128, sequences: 1, threads: 2 });
      const want: number[] = [];
      try {
        for await (const t of rctx.getSequence().evaluate(prompt as never, { temperature: 0 })) {
          want.push(t as number);
          if (want.length === 32) break;
        }
      } finally {
        await rctx.dispose();
      }
      const s = await openOnGpu(await gpu(), path);
      try {
        const lin = s.model.weights.layers[0].gate;
        expect(lin.kind === 'quant' && lin.w.vq !== undefined, `${rel}: layer 0 gate is ${lin.type}, not on the codebook kernels`).toBe(true);
        const r = await generate(s.model, prompt, { maxTokens: 32, temperature: 0, stopIds: [] });
        console.log(`${rel}\n  sub4:      ${JSON.stringify(r.tokens)}\n  llama.cpp: ${JSON.stringify(want)}`);
        expect(r.tokens).toEqual(want.slice(0, r.tokens.length));
        expect(r.tokens.length).toBe(want.length);
      } finally {
        await s.close();
      }
    });
});
