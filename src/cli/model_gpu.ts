// What `sub4 eval` and `sub4 generate` share: a model opened from a path with a
// usable tokenizer (checked before any GPU work, so input errors come fast),
// then its weights on the Dawn GPU, and one cleanup for all of it.
import { createNodeGpuContext, type NodeGpuContext } from '../gpu/node.ts';
import { TokenizerError } from '../base/errors.ts';
import { openModelPath } from '../io/model.node.ts';
import type { LoadedModel } from '../io/loaded_model.ts';
import type { Tokenizer } from '../io/tokenizer/types.ts';
import { LlamaModel } from '../model/llama.ts';
import { loadWeights } from '../model/weights.ts';
import { UsageError } from './args.ts';
import type { CliProgress } from './progress.ts';

export interface ModelFile {
  file: LoadedModel;
  tokenizer: Tokenizer;
}

/** Open a model file or folder that has a tokenizer (a TokenizerError otherwise; the file is closed on error). */
export async function openWithTokenizer(path: string): Promise<ModelFile> {
  const file = await openModelPath(path);
  if (!file.tokenizer) {
    await file.close();
    throw new TokenizerError(file.name, `no usable tokenizer: ${file.tokenizerProblem ?? 'none found'}`);
  }
  return { file, tokenizer: file.tokenizer };
}

export interface GpuModelSession extends ModelFile {
  ctx: NodeGpuContext;
  model: LlamaModel;
  /** Seconds spent creating the device and uploading the weights. */
  loadSeconds: number;
  close(): Promise<void>;
}

/** Put an opened model on the GPU; takes ownership of `m` (closed by close(), or at once on error). */
export async function toGpu(m: ModelFile, progress?: CliProgress): Promise<GpuModelSession> {
  const t0 = performance.now();
  let ctx: NodeGpuContext | undefined;
  try {
    ctx = await createNodeGpuContext();
    const weights = await loadWeights(ctx, m.file, { onBytes: (done, total) => progress?.update('load', done, total, 'bytes') });
    await ctx.device.queue.onSubmittedWorkDone();
    progress?.end();
    const c = ctx;
    return {
      ...m,
      ctx,
      model: new LlamaModel(ctx, weights),
      loadSeconds: (performance.now() - t0) / 1000,
      async close() {
        weights.destroy();
        c.destroy();
        await m.file.close();
      },
    };
  } catch (e) {
    ctx?.destroy();
    await m.file.close();
    throw e;
  }
}

/** An integer flag ≥ min, or a usage error naming the flag. */
export function intFlag(v: string | boolean | undefined, flag: string, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/** A number flag within [min, max], or a usage error naming the flag. */
export function numFlag(v: string | boolean | undefined, flag: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${flag} must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return n;
}
