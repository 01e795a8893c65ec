// Autoregressive generation: prefill the prompt through the KV cache, then one
// token at a time, sampling from the last position's logits (src/model/
// sampling.ts) and stopping at an end-of-sequence id or the token budget. Each
// token is handed to a callback as soon as it is chosen, so callers stream.
import { KvCache } from './kv_cache.ts';
import type { Activations, LayerLora, LlamaModel } from './llama.ts';
import { createSampler, type SamplingOptions } from './sampling.ts';

export interface GenerateOptions extends SamplingOptions {
  maxTokens: number;
  /** RNG seed of the sampler (unused when greedy). */
  seed?: number;
  /** Ids that end generation (not emitted); default the config's eosTokenIds. */
  stopIds?: readonly number[];
  /** Called with each new token id in order, before the next forward starts. */
  onToken?(id: number, index: number): void;
  /** Cache capacity; default prompt + maxTokens, at most the model's max positions. */
  maxContext?: number;
  /** LoRA adapters per layer (a trained run's), joined to every forward. */
  lora?: readonly LayerLora[];
}

export interface GenerateResult {
  tokens: number[];
  stop: 'eos' | 'length' | 'context';
  /** Wall time of the prefill and of the decode steps, ms. */
  prefillMs: number;
  decodeMs: number;
}

async function lastLogits(model: LlamaModel, acts: Activations): Promise<Float32Array> {
  const z = model.logits(acts, acts.T - 1, 1);
  try {
    return await z.read();
  } finally {
    z.destroy();
  }
}

export async function generate(model: LlamaModel, prompt: readonly number[], opts: GenerateOptions): Promise<GenerateResult> {
  const c = model.config;
  if (prompt.length === 0) throw new RangeError('generate: the prompt has no tokens (a model needs at least BOS to start)');
  if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 0) throw new RangeError(`generate: max tokens ${opts.maxTokens} must be an integer ≥ 0`);
  const capacity = Math.min(opts.maxContext ?? prompt.length + opts.maxTokens, c.maxPositions);
  if (prompt.length > capacity) throw new RangeError(`generate: the prompt has ${prompt.length} tokens, more than the ${capacity} positions available (model max ${c.maxPositions})`);
  const sample = createSampler(opts, opts.seed ?? 0);
  const stop = new Set(opts.stopIds ?? c.eosTokenIds);
  const tokens: number[] = [];
  const cache = new KvCache(model.ctx, c, 1, Math.max(capacity, 1));
  let prefill: Activations | null = null;
  let step: Activations | null = null;
  try {
    const t0 = performance.now();
    prefill = model.activations(1, prompt.length);
    model.forward(prefill, prompt, { cache, lora: opts.lora });
    let logits = await lastLogits(model, prefill);
    prefill.destroy();
    prefill = null;
    const prefillMs = performance.now() - t0;
    const t1 = performance.now();
    let reason: GenerateResult['stop'] = 'length';
    while (tokens.length < opts.maxTokens) {
      const id = sample(logits);
      if (stop.has(id)) {
        reason = 'eos';
        break;
      }
      tokens.push(id);
      opts.onToken?.(id, tokens.length - 1);
      if (tokens.length === opts.maxTokens) break;
      if (cache.length >= cache.capacity) {
        reason = 'context';
        break;
      }
      step ??= model.activations(1, 1);
      model.forward(step, [id], { cache, lora: opts.lora });
      logits = await lastLogits(model, step);
    }
    return { tokens, stop: reason, prefillMs, decodeMs: performance.now() - t1 };
  } finally {
    prefill?.destroy();
    step?.destroy();
    cache.destroy();
  }
}
