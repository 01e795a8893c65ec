// The newer families end to end against llama.cpp (node-llama-cpp, CPU): for
// each, a seeded random-weight model with the checkpoint's config shape scaled
// down (GQA, head_dim ≠ hidden/heads where the family has it, sliding windows)
// is written as a Q4_0 GGUF by sub4's own writer (tests/helpers/synthetic_gguf.ts,
// stories260K's vocabulary: the families' real tokenizers are not at hand), then
//  - `sub4 eval` of that file matches llama.cpp's perplexity within 0.5 %;
//  - a PEQA run exported with `sub4 tune … --format gguf` scores in llama.cpp
//    as `sub4 eval` of the tuned state, within 0.5 %;
//  - a LoRA run exported with `--format gguf-lora` scores in llama.cpp (base +
//    adapter.gguf) as `sub4 eval` of the tuned state, within 0.5 %;
// and each tune really moved the model (the base scores differently). First,
// on the F32 file with llama.cpp's KV cache in F32, every token's log-probability
// over a 128-token window agrees within 1e-3 (2e-3 for Gemma's GELU, see
// there): a perplexity can hide a wrong
// layer in a random model, a token-by-token comparison does not (turning
// SmolLM3's NoPE layer into a RoPE one moves it by 0.6).
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { validateConfig, type LlamaConfig } from '../../src/arch/config.ts';
import { fixture } from '../helpers/fixtures.ts';
import { gpuReady } from '../helpers/gpu_available.ts';
import { refLogits, refModel, refTokenize } from '../helpers/llamacpp.ts';
import { perplexity, pplWindows } from '../helpers/perplexity.ts';
import { gpu } from '../helpers/gpu.ts';
import { openOnGpu } from '../helpers/ppl_vs_llamacpp.ts';
import { STORIES_VOCAB, writeSyntheticGguf } from '../helpers/synthetic_gguf.ts';

/** The exported model's GGUF in a run folder (named after the model, method and bits; not the adapter). */
const exportedGguf = (dir: string): string => {
  const found = readdirSync(dir).filter((n) => n.endsWith('.gguf') && n !== 'adapter.gguf');
  expect(found).toHaveLength(1);
  return found[0];
};

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const sub4 = (args: string[]) => run('node', [BIN, ...args], { timeout: 300_000 });
const shakespeare = fixture('data/tinyshakespeare/input.txt');
const stories = fixture('models/stories260K.gguf');
const CTX = 128;
const WINDOWS = 3;

const common = { vocabSize: STORIES_VOCAB, bosTokenId: 1, eosTokenIds: [2], maxPositions: 512, ropeScaling: { type: 'none' } as const, qkvBias: false, oBias: false, mlpBias: false };

// Scaled-down shapes of the published configs: heads and KV heads in the checkpoint's ratio, head_dim as the family sets it.
const FAMILIES: { name: string; config: LlamaConfig; logProbTol?: number }[] = [
  {
    // Qwen3-0.6B: hidden 1024, 16 heads / 8 KV, head_dim 128 (≠ 1024/16), ffn 3072, tied, theta 1e6.
    name: 'Qwen3',
    config: validateConfig({ ...common, architecture: 'qwen3', hiddenSize: 64, intermediateSize: 192, numLayers: 3, numHeads: 4, numKvHeads: 2, headDim: 32,
      ropeTheta: 1e6, rmsNormEps: 1e-6, tieWordEmbeddings: true, slidingWindow: null, qkNorm: true }, 'qwen3'),
  },
  {
    // SmolLM3-3B: hidden 2048, 16 heads / 4 KV, head_dim 128 (= 2048/16), tied, theta 5e6, every 4th layer NoPE.
    name: 'SmolLM3',
    config: validateConfig({ ...common, architecture: 'smollm3', hiddenSize: 64, intermediateSize: 192, numLayers: 4, numHeads: 4, numKvHeads: 1, headDim: 16,
      ropeTheta: 5e6, rmsNormEps: 1e-6, tieWordEmbeddings: true, slidingWindow: null, noRopeLayers: [3] }, 'smollm3'),
  },
  {
    // Gemma 3 270M: hidden 640, 4 heads / 1 KV, head_dim 256 (≠ 640/4), ffn 2048, tied, 5 sliding layers (window 512,
    // base 10000) to 1 global (base 1e6), embeddings × sqrt(640). Here 6 layers (layer 5 global) and a window of 32,
    // well inside the 128-token windows the perplexity runs over.
    name: 'Gemma3',
    config: validateConfig({ ...common, architecture: 'gemma3', hiddenSize: 64, intermediateSize: 192, numLayers: 6, numHeads: 4, numKvHeads: 1, headDim: 32,
      ropeTheta: 1e6, rmsNormEps: 1e-6, tieWordEmbeddings: true, slidingWindow: 32, slidingPattern: 6, ropeThetaLocal: 10000, qkNorm: true,
      sandwichNorms: true, mlpActivation: 'gelu_tanh', embedScale: Math.fround(Math.sqrt(64)) }, 'gemma3'),
    // llama.cpp's CPU GELU (ggml_vec_gelu_f32 under GGML_GELU_FP16) looks its result up in an f16 table by the input
    // rounded to f16; sub4 computes it in f32. Measured worst 8.9e-4 (Qwen3 and SmolLM3, without GELU: < 1e-5).
    logProbTol: 2e-3,
  },
];

function setup(): { dir: string; train: string; heldout: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sub4-families-'));
  const text = readFileSync(shakespeare!, 'utf8');
  const cut = Math.floor(text.length * 0.9);
  writeFileSync(join(dir, 'train.txt'), text.slice(0, 16000));
  writeFileSync(join(dir, 'heldout.txt'), text.slice(cut, cut + 20000));
  return { dir, train: join(dir, 'train.txt'), heldout: join(dir, 'heldout.txt') };
}

const evalPpl = async (state: string, heldout: string) =>
  JSON.parse((await sub4(['eval', state, '--data', heldout, '--ctx', `${CTX}`, '--windows', `${WINDOWS}`, '--json'])).stdout.trim().split('\n').at(-1)!).ppl as number; // progress lines come first

async function llamaCppPpl(model: string, heldout: string, lora?: string): Promise<number> {
  const ref = await refModel(model);
  if (!ref) throw new Error('node-llama-cpp is not available');
  const wins = pplWindows(refTokenize(ref, readFileSync(heldout, 'utf8')), ref.tokens.bos as number, CTX, WINDOWS);
  return (await perplexity(wins, (t) => refLogits(ref, t, { lora }))).ppl;
}

const close = (name: string, got: number, want: number) => {
  console.log(`${name}: llama.cpp ${got.toFixed(4)} vs sub4 ${want.toFixed(4)} (${(100 * (got / want - 1)).toFixed(3)} %)`);
  expect(Math.abs(got / want - 1)).toBeLessThanOrEqual(0.005);
};

const logSoftmaxAt = (row: ArrayLike<number>, id: number) => {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return row[id] - max - Math.log(sum);
};

/** Worst |Δ log p| of the next token over one window, sub4 (GPU) vs llama.cpp with an F32 KV cache. */
async function worstLogProb(path: string, heldout: string): Promise<number> {
  const ref = (await refModel(path))!;
  const win = pplWindows(refTokenize(ref, readFileSync(heldout, 'utf8')), ref.tokens.bos as number, CTX, 1)[0];
  const rows = await refLogits(ref, win, { f32Cache: true });
  const s = await openOnGpu(await gpu(), path);
  try {
    const acts = s.model.activations(1, CTX);
    s.model.forward(acts, win);
    const z = s.model.logits(acts);
    const ours = await z.read();
    z.destroy();
    acts.destroy();
    const V = s.model.config.vocabSize;
    let worst = 0;
    for (let t = 0; t + 1 < CTX; t++) worst = Math.max(worst, Math.abs(logSoftmaxAt(ours.subarray(t * V, (t + 1) * V), win[t + 1]) - logSoftmaxAt(rows[t], win[t + 1])));
    return worst;
  } finally {
    await s.close();
  }
}

const TUNE = ['--steps', '6', '--batch', '2', '--seq', '64', '--lr', '1e-2', '--eval-windows', '1'];

describe('newer families: sub4 vs llama.cpp on random-weight GGUFs written by sub4', () => {
  for (const f of FAMILIES) {
    it(`${f.name}: per-token log-probabilities, eval, PEQA --format gguf and LoRA --format gguf-lora`, { timeout: 900_000 }, async () => {
      if (!shakespeare || !stories || !gpuReady()) return;
      const { dir, train, heldout } = setup();
      const f32 = join(dir, `${f.name}-f32.gguf`);
      await writeSyntheticGguf(f.config, 7, f32, 'F32', stories);
      const worst = await worstLogProb(f32, heldout);
      console.log(`${f.name} F32: worst |Δ log p| over ${CTX - 1} tokens ${worst.toExponential(3)}`);
      expect(worst).toBeLessThanOrEqual(f.logProbTol ?? 1e-3);

      const base = join(dir, `${f.name}.gguf`);
      const types = await writeSyntheticGguf(f.config, 7, base, 'Q4_0', stories);
      expect(types.find((t) => t.name === 'blk.0.attn_q.weight')?.type).toBe('Q4_0');
      const baseSub4 = await evalPpl(base, heldout);
      const baseRef = await llamaCppPpl(base, heldout);
      close(`${f.name} base`, baseRef, baseSub4);

      const peqa = join(dir, 'peqa');
      await sub4(['tune', base, '--data', train, '--method', 'peqa', ...TUNE, '--out', peqa, '--format', 'gguf']);
      const peqaGguf = exportedGguf(peqa);
      const peqaSub4 = await evalPpl(peqa, heldout);
      close(`${f.name} PEQA export`, await llamaCppPpl(join(peqa, peqaGguf), heldout), peqaSub4);
      expect(Math.abs(peqaSub4 / baseSub4 - 1), 'PEQA moved the model').toBeGreaterThan(0.005);

      const lora = join(dir, 'lora');
      await sub4(['tune', base, '--data', train, '--method', 'lora', '--rank', '4', ...TUNE, '--out', lora, '--format', 'gguf-lora']);
      expect(readdirSync(lora)).toContain('adapter.gguf');
      const loraGguf = exportedGguf(lora);
      const loraSub4 = await evalPpl(lora, heldout);
      close(`${f.name} LoRA export`, await llamaCppPpl(join(lora, loraGguf), heldout, join(lora, 'adapter.gguf')), loraSub4);
      expect(Math.abs(loraSub4 / baseSub4 - 1), 'LoRA moved the model').toBeGreaterThan(0.005);
    });
  }
});
