// Importance matrices as llama.cpp's imatrix tool collects them
// (tools/imatrix/imatrix.cpp collect_imatrix; shared/docs/formats-2.md §2.1):
// for every linear weight of every layer, Σ x² per input column over every
// token row of the input x that enters its matrix multiplication, and the
// number of rows. q/k/v share their input (xn1) and gate/up theirs (xn2), so
// each distinct input is summed once, on the GPU (sumsq_columns.wgsl) during
// the forward, through the forward's observer, and the sums are recorded under
// every weight name that reads it, as llama.cpp does (it sees each product).
// The LM head (output.weight) is left out, as without llama.cpp's
// --process-output. Windows run B at a time; each is one chunk.
import { GpuTensor } from '../gpu/buffers.ts';
import { sumsqColumns } from '../gpu/kernels/sumsq.ts';
import { hfToGguf } from '../arch/names.ts';
import { paramSpec, type LinearRole } from '../arch/params.ts';
import type { Imatrix, ImatrixEntry } from '../io/imatrix/types.ts';
import { Sub4Error } from '../base/errors.ts';
import type { LinearInputObserver, LlamaModel } from './llama.ts';

export interface CollectImatrixOptions {
  /** Largest B·T of one forward; default 2048 tokens (at least one window). */
  batchTokens?: number;
  /** After each batch: windows done and total. */
  onProgress?(done: number, total: number): void;
  /** Called before each batch; throw to stop (the accumulators are freed). */
  checkCancel?(): void;
}

/** A sum that is NaN or ±Inf (llama.cpp aborts the run on these too). */
export class ImatrixNonFiniteError extends Sub4Error {}

/** GGUF weight name of each linear role in layer l, in the model's family naming. */
export function linearGgufNames(model: LlamaModel, l: number): Record<LinearRole, string> {
  const c = model.config;
  const out = {} as Record<LinearRole, string>;
  for (const p of paramSpec(c)) {
    if (p.kind !== 'linear' || p.layer !== l) continue;
    const g = hfToGguf(p.name, c.architecture);
    if (!g) throw new RangeError(`imatrix: no GGUF name for ${p.name}`);
    out[p.role as LinearRole] = g;
  }
  return out;
}

/**
 * Run every window (equal lengths, token ids as the model reads them, BOS
 * included where the caller wants it) through the model and return the
 * imatrix: one entry per linear weight of every layer, counts = tokens seen,
 * chunkCount = windows, chunkSize = window length, datasets empty.
 */
export async function collectImatrix(model: LlamaModel, windows: readonly number[][], opts: CollectImatrixOptions = {}): Promise<Imatrix> {
  if (windows.length === 0) throw new RangeError('imatrix: no windows');
  const T = windows[0].length;
  if (T < 1 || windows.some((w) => w.length !== T)) throw new RangeError('imatrix: windows must be non-empty and of equal length');
  const ctx = model.ctx;
  const perBatch = Math.max(1, Math.floor((opts.batchTokens ?? 2048) / T));
  // One accumulator per (layer, distinct input); the roles that read it.
  const accs = new Map<string, { layer: number; roles: readonly LinearRole[]; acc: GpuTensor<'f32'> }>();
  const observe: LinearInputObserver = (rec, layer, roles, x) => {
    const key = `${layer}:${roles.join(',')}`;
    let a = accs.get(key);
    if (!a) {
      const I = x.shape[x.shape.length - 1];
      a = { layer, roles, acc: GpuTensor.from(ctx, new Float32Array(I), [I], 'f32', `imatrix.${key}`) };
      accs.set(key, a);
    }
    sumsqColumns(ctx, a.acc, x, { encoder: rec.encoder });
  };
  let tokens = 0;
  try {
    for (let w0 = 0; w0 < windows.length; w0 += perBatch) {
      opts.checkCancel?.();
      const group = windows.slice(w0, w0 + perBatch);
      const acts = model.activations(group.length, T);
      try {
        model.forward(acts, group.flat(), { observe });
        // Wait for this batch before the next allocates: bounded memory, and honest progress.
        await ctx.device.queue.onSubmittedWorkDone();
      } finally {
        acts.destroy();
      }
      tokens += group.length * T;
      opts.onProgress?.(Math.min(w0 + group.length, windows.length), windows.length);
    }
    const entries = new Map<string, ImatrixEntry>();
    for (const { layer, roles, acc } of accs.values()) {
      const sums = await acc.read();
      for (let i = 0; i < sums.length; i++)
        if (!Number.isFinite(sums[i])) throw new ImatrixNonFiniteError(`imatrix: the sum of squares of layer ${layer}'s ${roles.join('/')} input is ${sums[i]} at column ${i}`);
      const names = linearGgufNames(model, layer);
      for (const r of roles) entries.set(names[r], { inSum2: sums.slice(), counts: [tokens], nCols: sums.length });
    }
    return { entries, datasets: [], chunkCount: windows.length, chunkSize: T };
  } finally {
    for (const a of accs.values()) a.acc.destroy();
  }
}
