// The diagonal empirical Fisher of every layer linear weight W [O, I] (data-aware
// LQ-LoRA, arXiv 2311.12023 §3.3): F = mean over calibration examples of
// (∂L_e/∂W)², where L_e is example e's mean next-token loss and, per example,
// ∂L_e/∂W = Σ_t dY[t]ᵀ·X[t] over its token rows. The square is taken per
// example (fisher_accumulate.wgsl squares each example's dYᵀ·X before adding),
// never of a batch's summed gradient. One backward per batch of B windows
// gives every layer at once: the backward's observer (ModelBackward's
// `observe`) hands each linear's dY and X to the kernel in the layer's encoder,
// so all 7·L accumulators [O, I] are resident on the GPU (fine for the small
// models this CPU-side LQ-LoRA split serves). The model runs as loaded (float
// weights); a throwaway rank-1 LoRA (B = 0, so the forward is unchanged) gives
// ModelBackward something to train; its gradients are ignored.
// fisherWeights reduces each F to its row and column sums (the rank-1 form
// lqloraInit takes).
import { GpuTensor } from '../gpu/buffers.ts';
import { fisherAccumulate } from '../gpu/kernels/fisher.ts';
import { paramSpec, type LinearRole } from '../arch/params.ts';
import type { LoadedModel } from '../io/loaded_model.ts';
import { ModelBackward, type LinearGradObserver } from '../model/backward.ts';
import type { LlamaModel } from '../model/llama.ts';
import { createTrainable } from '../model/trainable.ts';
import { rowColForm, type RowColWeights } from './lqlora.ts';

export interface FisherOptions {
  /** Windows per backward (default 4). */
  batch?: number;
  onProgress?(done: number, total: number): void;
}

export interface FisherEstimate {
  /** Mean over examples of (∂L_e/∂W)², [O, I] row-major, by engine weight name. */
  f: Map<string, { f: Float32Array; rows: number; cols: number }>;
  examples: number;
}

/**
 * F of every layer linear over `windows` (token ids, all of one length T + 1:
 * ids = w[0..T), targets = w[1..T]). `source` is the file the model was loaded from.
 */
export async function collectFisher(model: LlamaModel, source: LoadedModel, windows: readonly number[][], o: FisherOptions = {}): Promise<FisherEstimate> {
  if (windows.length === 0) throw new RangeError('Fisher: no calibration windows');
  const T = windows[0].length - 1;
  if (T < 1 || windows.some((w) => w.length !== T + 1)) throw new RangeError('Fisher: windows must be of equal length ≥ 2 (inputs and their next tokens)');
  const ctx = model.ctx;
  const B = Math.max(1, Math.min(o.batch ?? 4, windows.length));
  const names = new Map(paramSpec(model.config).filter((p) => p.kind === 'linear' && p.layer !== null).map((p) => [`${p.layer}.${p.role}`, { name: p.name, shape: p.shape }]));
  const accs = new Map<string, GpuTensor<'f32'>>();
  const tr = await createTrainable(model, source, { method: 'lora', lora: { rank: 1, alpha: 1, seed: 0 } });
  const acts = model.activations(B, T, true);
  let bw: ModelBackward | undefined;
  try {
    bw = new ModelBackward(model, tr, B, T);
    for (const l of tr.lora) for (const f of Object.values(l)) f?.b.write(new Float32Array(f.b.size)); // exact forward
    let examples = 0;
    for (let w0 = 0; w0 < windows.length; w0 += B) {
      const group = windows.slice(w0, w0 + B);
      const E = group.length;
      // A short last batch: pad with copies whose loss does not count, and square only the first E examples.
      while (group.length < B) group.push(group[0]);
      const ids = group.flatMap((w) => w.slice(0, T));
      const targets = group.flatMap((w) => w.slice(1));
      const mask = group.flatMap((_, e) => new Array<number>(T).fill(e < E ? 1 : 0));
      const observe: LinearGradObserver = (rec, layer, role: LinearRole, dy, x) => {
        const key = `${layer}.${role}`;
        let acc = accs.get(key);
        if (!acc) {
          const { name, shape } = names.get(key)!;
          acc = GpuTensor.from(ctx, new Float32Array(shape[0] * shape[1]), [shape[0], shape[1]], 'f32', `fisher.${name}`);
          accs.set(key, acc);
        }
        fisherAccumulate(ctx, acc, dy, x, E, { rowsPerExample: T, encoder: rec.encoder });
      };
      // gradScale: each example's own mean loss (T counted rows per example), not the batch's.
      bw.step(acts, ids, { targets, mask, gradScale: 1 / T, observe });
      await ctx.device.queue.onSubmittedWorkDone();
      examples += E;
      o.onProgress?.(examples, windows.length);
    }
    const f = new Map<string, { f: Float32Array; rows: number; cols: number }>();
    for (const [key, acc] of accs) {
      const v = await acc.read();
      for (let i = 0; i < v.length; i++) {
        if (!Number.isFinite(v[i])) throw new RangeError(`Fisher: ${names.get(key)!.name} has a non-finite estimate ${v[i]}`);
        v[i] /= examples;
      }
      f.set(names.get(key)!.name, { f: v, rows: acc.shape[0], cols: acc.shape[1] });
    }
    return { f, examples };
  } finally {
    bw?.destroy();
    acts.destroy();
    tr.destroy();
    for (const a of accs.values()) a.destroy();
  }
}

/** The rank-1 (row/column sums) form of each estimate, by engine weight name. */
export function fisherWeights(est: FisherEstimate): Map<string, Required<RowColWeights> & { row: Float64Array; col: Float64Array }> {
  return new Map([...est.f].map(([name, e]) => [name, rowColForm(e.f, e.rows, e.cols)]));
}
