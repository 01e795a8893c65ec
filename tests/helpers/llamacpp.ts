// llama.cpp as a reference, through node-llama-cpp (devDependency) on the CPU only:
// the prebuilt @node-llama-cpp/linux-x64 binary, never a download or a source build
// (build: 'never', skipDownload). Tests ask for it with llamaCpp(); when it cannot
// load they are skipped with the printed reason, or fail under SUB4_REQUIRE_FIXTURES=1.
// package.json "overrides" maps the GPU/other-platform prebuilt packages of
// node-llama-cpp to a Windows-only package so npm never downloads them on Linux.
import { afterAll } from 'vitest';
import { REQUIRE } from './fixtures.ts';
import type { Llama, LlamaModel } from 'node-llama-cpp';

let llamaPromise: Promise<Llama | null> | undefined;
const models = new Map<string, Promise<LlamaModel>>();

async function load(): Promise<Llama | null> {
  try {
    const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
    return await getLlama({
      gpu: false,
      build: 'never',
      skipDownload: true,
      usePrebuiltBinaries: true,
      progressLogs: false,
      logLevel: LlamaLogLevel.disabled, // vocab-only GGUFs log a harmless "missing tensor" error; failures still throw
      maxThreads: 2,
    });
  } catch (e) {
    const msg = `node-llama-cpp (llama.cpp reference) cannot load: ${(e as Error).message.split('\n')[0]}`;
    if (REQUIRE) throw new Error(`${msg}; SUB4_REQUIRE_FIXTURES=1 makes this a failure`);
    console.warn(`SKIP: ${msg}`);
    return null;
  }
}

/** The CPU llama.cpp binding, loaded once per test file; null (reason printed) when unavailable. */
export function llamaCpp(): Promise<Llama | null> {
  if (!llamaPromise) {
    llamaPromise = load();
    afterAll(async () => {
      for (const m of models.values()) await (await m.catch(() => null))?.dispose();
      models.clear();
      await (await llamaPromise)?.dispose();
      llamaPromise = undefined;
    });
  }
  return llamaPromise;
}

/** A GGUF loaded by llama.cpp (cached per path); vocabOnly loads just the tokenizer (vocab-only GGUFs need it). */
export async function refModel(path: string, opts: { vocabOnly?: boolean } = {}): Promise<LlamaModel | null> {
  const llama = await llamaCpp();
  if (!llama) return null;
  const key = `${path}|${opts.vocabOnly ? 'vocab' : 'full'}`;
  let m = models.get(key);
  if (!m) models.set(key, (m = llama.loadModel({ modelPath: path, gpuLayers: 0, vocabOnly: opts.vocabOnly ?? false })));
  return m;
}

/**
 * llama.cpp's tokenization (common_tokenize with add_special=false): node-llama-cpp never adds
 * BOS itself, so addBos prepends the model's BOS when the vocabulary asks for one
 * (llama.cpp's add_bos), mirroring llama_tokenize(add_special=true) for SPM/BPE vocabularies.
 */
export function refTokenize(model: LlamaModel, text: string, opts: { addBos?: boolean; parseSpecial?: boolean } = {}): number[] {
  const ids = model.tokenize(text, opts.parseSpecial ?? false) as number[];
  const bos = model.tokens.bos;
  return opts.addBos && model.tokens.shouldPrependBosToken && bos !== null ? [bos as number, ...ids] : [...ids];
}

export interface RefLogitsOptions {
  /**
   * llama.cpp's full-precision path: F32 KV cache and no flash attention. By
   * default llama.cpp rounds the KV cache to f16, which moves log-probabilities
   * by ~1e-2 on stories260K.
   */
  f32Cache?: boolean;
  /** A llama.cpp LoRA adapter GGUF applied at scale 1. */
  lora?: string;
}

/** Raw next-token logits after each of `tokens` (one Float32Array of vocabulary size per position). */
export async function refLogits(model: LlamaModel, tokens: readonly number[], opts: RefLogitsOptions = {}): Promise<Float32Array[]> {
  const n = tokens.length;
  const size = Math.max(n, 16);
  const precise = opts.f32Cache ? ({ flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } as const) : {};
  const lora = opts.lora ? { lora: { adapters: [{ filePath: opts.lora, scale: 1 }] } } : {};
  const ctx = await model.createContext({ contextSize: size, batchSize: size, sequences: 1, threads: 2, ...precise, ...lora });
  try {
    const seq = ctx.getSequence();
    const out = await seq.controlledEvaluate(tokens.map((t) => [t as never, { generateNext: { logits: true } }] as const));
    return out.map((o, i) => {
      const logits = o?.next.logits;
      if (!logits) throw new Error(`llama.cpp returned no logits for position ${i}`);
      const row = new Float32Array(logits.size);
      for (const [id, value] of logits) {
        if ((id as number) >= row.length) throw new Error(`llama.cpp logit for token ${id} beyond ${row.length} entries`);
        row[id as number] = value;
      }
      return row;
    });
  } finally {
    await ctx.dispose();
  }
}
