// collectImatrix (src/model/imatrix.ts) on synthetic models: Llama (GQA) and
// Gemma 3 (q/k norms, sandwich norms, GeGLU, sliding layers), windows batched
// three at a time. Every linear weight of every layer gets an entry under its
// GGUF name with counts = windows·T and n_cols = its input width; q/k/v and
// gate/up share their sums; each sum equals Σx² recomputed in f64 from the
// forward's own linear inputs (copied out one window at a time); the observer
// leaves the forward's output bit-identical; progress and cancellation.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { base, gemmaTest, synthetic, tokens } from './model_synthetic.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { collectImatrix, linearGgufNames } from '../../src/model/imatrix.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { sumsqColumnsRef } from '../../src/ref/sumsq.ts';
import { sumsqColumns } from '../../src/gpu/kernels/sumsq.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import type { Recorder } from '../../src/model/recorder.ts';
import { hfToGguf } from '../../src/arch/names.ts';
import { paramSpec } from '../../src/arch/params.ts';
import type { LlamaConfig } from '../../src/arch/config.ts';

/** An observer's GPU work on x: Σx² into a scratch accumulator (freed once the queue is done with it). */
function sumsqCopy(ctx: GpuContext, rec: Recorder, x: GpuTensor<'f32'>): void {
  const I = x.shape[x.shape.length - 1];
  const acc = GpuTensor.from(ctx, new Float32Array(I), [I], 'f32');
  sumsqColumns(ctx, acc, x, { encoder: rec.encoder });
  void ctx.device.queue.onSubmittedWorkDone().then(() => acc.destroy());
}

function maxRel(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), 1e-30));
  return m;
}

describe('collectImatrix: GPU sums vs the forward\'s own inputs', () => {
  for (const [name, c] of [['llama', base], ['gemma3', gemmaTest]] as Array<[string, LlamaConfig]>)
    it(`${name}: 5 windows of 17 tokens, 3 per batch`, async () => {
      const ctx = await gpu();
      const m = synthetic(c, 31);
      const weights = await loadWeights(ctx, m);
      const model = new LlamaModel(ctx, weights);
      const T = 17;
      const wins = Array.from({ length: 5 }, (_, i) => tokens(T, c.vocabSize, 40 + i));
      const progress: number[] = [];
      const im = await collectImatrix(model, wins, { batchTokens: 3 * T, onProgress: (d) => progress.push(d) });
      expect(progress).toEqual([3, 5]);
      expect([im.chunkCount, im.chunkSize]).toEqual([5, T]);
      const linear = paramSpec(c).filter((p) => p.kind === 'linear' && p.layer !== null);
      expect([...im.entries.keys()].sort()).toEqual(linear.map((p) => hfToGguf(p.name, c.architecture)!).sort());
      for (const p of linear) {
        const e = im.entries.get(hfToGguf(p.name, c.architecture)!)!;
        expect(e.counts).toEqual([5 * T]);
        expect(e.nCols).toBe(p.shape[1]);
      }

      // Recompute from the forward's linear inputs, one window at a time, in f64.
      const want = new Map<string, Float64Array>();
      for (const ids of wins) {
        const acts = model.activations(1, T);
        const copies: Array<{ layer: number; roles: readonly string[]; t: GpuTensor<'f32'> }> = [];
        model.forward(acts, ids, {
          observe: (rec, layer, roles, x) => {
            const t = GpuTensor.empty(ctx, x.shape, 'f32', 'copy');
            rec.encoder.copyBufferToBuffer(x.buffer, 0, t.buffer, 0, x.size * 4);
            copies.push({ layer, roles, t });
          },
        });
        for (const cp of copies) {
          const x = await cp.t.read();
          cp.t.destroy();
          const names = linearGgufNames(model, cp.layer) as Record<string, string>;
          for (const r of cp.roles) want.set(names[r], sumsqColumnsRef(x, x.length / T, want.get(names[r])));
        }
        acts.destroy();
      }
      let worst = 0;
      for (const [n, w] of want) {
        const r = maxRel(im.entries.get(n)!.inSum2, w);
        worst = Math.max(worst, r);
        expect(r, n).toBeLessThanOrEqual(1e-5);
      }
      console.log(`collectImatrix ${name}: ${want.size} entries, max rel error ${worst.toExponential(2)}`);
      const l0 = linearGgufNames(model, 0);
      expect(im.entries.get(l0.k)!.inSum2).toEqual(im.entries.get(l0.q)!.inSum2);
      expect(im.entries.get(l0.up)!.inSum2).toEqual(im.entries.get(l0.gate)!.inSum2);

      // The observer only reads: the forward's output is bit-identical with and without it.
      const hidden = async (observe: boolean) => {
        const acts = model.activations(2, T);
        model.forward(acts, [...wins[0], ...wins[1]], observe ? { observe: (rec, _l, _r, x) => sumsqCopy(ctx, rec, x) } : {});
        const h = await acts.get('hidden').read();
        acts.destroy();
        return h;
      };
      const plain = await hidden(false);
      const withObserver = await hidden(true);
      expect(withObserver).toEqual(plain);
      weights.destroy();
    });

  it('checkCancel stops the run and the error comes through', async () => {
    const ctx = await gpu();
    const weights = await loadWeights(ctx, synthetic(base, 32));
    const model = new LlamaModel(ctx, weights);
    const wins = Array.from({ length: 4 }, (_, i) => tokens(8, base.vocabSize, 50 + i));
    let calls = 0;
    const err = await collectImatrix(model, wins, {
      batchTokens: 8,
      checkCancel: () => {
        if (++calls === 3) throw new Error('cancelled');
      },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe('cancelled');
    await expect(collectImatrix(model, [], {})).rejects.toThrow(/no windows/);
    await expect(collectImatrix(model, [[1, 2], [3]], {})).rejects.toThrow(/equal length/);
    weights.destroy();
  });
});
