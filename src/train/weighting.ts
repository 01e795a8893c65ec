// Data-aware LQ-LoRA (arXiv 2311.12023 §3.3) for `sub4 tune --method lqlora
// --weighting imatrix|fisher`: the rank-1 importance of every layer linear
// weight that lqloraInit takes (src/train/lqlora.ts), by engine weight name.
//  - imatrix: llama.cpp's per-column mean x² (importanceWeights); columns only.
//  - fisher: the diagonal empirical Fisher over calibration windows
//    (src/train/fisher.ts, on the GPU, float weights), reduced to its row and
//    column sums.
import type { GpuContext } from '../gpu/device.ts';
import { importanceWeights, type Imatrix } from '../io/imatrix/index.ts';
import type { LoadedModel } from '../io/loaded_model.ts';
import { paramSpec } from '../arch/params.ts';
import { LlamaModel } from '../model/llama.ts';
import { loadWeights } from '../model/weights.ts';
import { collectFisher, fisherWeights } from './fisher.ts';
import type { RowColWeights } from './lqlora.ts';

export const WEIGHTINGS = ['none', 'imatrix', 'fisher'] as const;
export type Weighting = (typeof WEIGHTINGS)[number];

/** Column weights from an imatrix for every layer linear it covers; `missing` names the rest (left unweighted). */
export function imatrixLqloraWeights(file: LoadedModel, im: Imatrix): { weights: Map<string, RowColWeights>; missing: string[] } {
  const weights = new Map<string, RowColWeights>();
  const missing: string[] = [];
  for (const p of paramSpec(file.config)) {
    if (p.kind !== 'linear' || p.layer === null) continue;
    const t = file.tensors.get(p.name);
    const w = t?.ggufName ? importanceWeights(im, t.ggufName) : undefined;
    if (w && w.length === p.shape[1]) weights.set(p.name, { col: w });
    else missing.push(p.name);
  }
  return { weights, missing };
}

/**
 * Non-overlapping windows of T + 1 tokens (inputs and next tokens) from the
 * start of a token stream, at most `max`.
 */
export function calibrationWindows(ids: readonly number[], T: number, max: number): number[][] {
  const out: number[][] = [];
  for (let s = 0; s + T + 1 <= ids.length && out.length < max; s += T + 1) out.push(ids.slice(s, s + T + 1));
  return out;
}

/** Row/column Fisher weights of every layer linear over the windows, the float model loaded for it and freed after. */
export async function fisherLqloraWeights(ctx: GpuContext, file: LoadedModel, windows: readonly number[][], batch: number, onProgress?: (done: number, total: number) => void): Promise<Map<string, RowColWeights>> {
  const weights = await loadWeights(ctx, file);
  try {
    const est = await collectFisher(new LlamaModel(ctx, weights), file, windows, { batch, onProgress });
    return fisherWeights(est);
  } finally {
    weights.destroy();
  }
}
