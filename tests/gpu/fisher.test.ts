// The empirical Fisher of linear weights (data-aware LQ-LoRA, src/train/fisher.ts):
// fisher_accumulate.wgsl against its f64 reference (src/ref/fisher.ts) on random
// and awkward shapes (one row, one column, sides not a multiple of the 16-tile,
// several examples, a short last batch via rowsPerExample, accumulation into a
// non-zero F; max relative error printed), then the whole collector on a tiny
// dense synthetic model: every F equals the mean over windows of the squared
// reference gradient dW (llamaBackwardRef), and one entry of ∂L/∂W agrees with
// a central finite difference of the reference loss. On stories260K (8 windows
// of tinyshakespeare): the Fisher-weighted LQ-LoRA split (row/column form) has a
// lower Fisher-weighted error than the unweighted split on every layer linear.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { fisherAccumulate } from '../../src/gpu/kernels/fisher.ts';
import { fisherAccumulateRef } from '../../src/ref/fisher.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { paramSpec } from '../../src/arch/params.ts';
import { llamaBackwardRef, llamaLossRef, type RefModel } from '../../src/ref/llama_backward.ts';
import { collectFisher, fisherWeights } from '../../src/train/fisher.ts';
import { base, synthetic, tokens } from './model_synthetic.ts';
import { readFileSync } from 'node:fs';
import { fixture } from '../helpers/fixtures.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { dequantizeQ } from '../../src/quant/qtensor.ts';
import { lqloraInit, weightedRelError, type LqLoraInit } from '../../src/train/lqlora.ts';
import { calibrationWindows } from '../../src/train/weighting.ts';

const stories = fixture('models/stories260K');
const shakespeare = fixture('data/tinyshakespeare/input.txt');

function maxRel(got: Float32Array, want: Float64Array): number {
  let peak = 0;
  for (const v of want) peak = Math.max(peak, Math.abs(v));
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), 1e-3 * peak, 1e-30));
  return m;
}

describe('fisher_accumulate: GPU vs reference', () => {
  // [E, T, O, I]
  const shapes: [number, number, number, number][] = [[1, 1, 1, 1], [1, 1, 16, 16], [1, 5, 1, 7], [3, 7, 17, 33], [2, 16, 64, 64], [4, 33, 48, 172], [1, 100, 5, 3], [5, 3, 129, 20]];
  for (const [E, T, O, I] of shapes)
    it(`E=${E} T=${T} O=${O} I=${I}`, async () => {
      const ctx = await gpu();
      const dy = randomF32(E * T * O, E + T + O);
      const x = randomF32(E * T * I, E * T + I).map((v, i) => v * (1 + (i % 3)));
      const f0 = randomF32(O * I, O + I).map(Math.abs);
      const t = [GpuTensor.from(ctx, dy, [E * T, O], 'f32'), GpuTensor.from(ctx, x, [E * T, I], 'f32'), GpuTensor.from(ctx, f0, [O, I], 'f32')] as const;
      fisherAccumulate(ctx, t[2], t[0], t[1], E);
      const rel = maxRel(await t[2].read(), fisherAccumulateRef(dy, x, E, T, O, I, f0));
      console.log(`fisher_accumulate E=${E} T=${T} [${O}, ${I}]: max rel ${rel.toExponential(2)}`);
      expect(rel).toBeLessThan(2e-5 * Math.max(1, Math.log2(T)));
      t.forEach((g) => g.destroy());
    });

  it('rowsPerExample: only the first E·T rows count (a short last batch)', async () => {
    const ctx = await gpu();
    const [E, T, O, I] = [2, 5, 9, 11];
    const dy = randomF32(4 * T * O, 1);
    const x = randomF32(4 * T * I, 2);
    const f = GpuTensor.from(ctx, new Float32Array(O * I), [O, I], 'f32');
    const [tdy, tx] = [GpuTensor.from(ctx, dy, [4 * T, O], 'f32'), GpuTensor.from(ctx, x, [4 * T, I], 'f32')];
    fisherAccumulate(ctx, f, tdy, tx, E, { rowsPerExample: T });
    const rel = maxRel(await f.read(), fisherAccumulateRef(dy.subarray(0, E * T * O), x.subarray(0, E * T * I), E, T, O, I));
    expect(rel).toBeLessThan(2e-5);
    expect(() => fisherAccumulate(ctx, f, tdy, tx, 3)).toThrow(/examples/);
    expect(() => fisherAccumulate(ctx, f, tx, tdy, 1)).toThrow(/accumulator/);
    [f, tdy, tx].forEach((g) => g.destroy());
  });
});

describe('collectFisher on a tiny dense model', () => {
  it('is the mean squared per-window gradient; one entry matches a finite difference', async () => {
    const ctx = await gpu();
    const c = base;
    const file = synthetic(c, 7);
    const weights = await loadWeights(ctx, file);
    const model = new LlamaModel(ctx, weights);
    const T = 6;
    const windows = [0, 1, 2].map((k) => tokens(T + 1, c.vocabSize, 40 + k));
    try {
      // batch 2 over 3 windows: one full batch and a short one.
      const est = await collectFisher(model, file, windows, { batch: 2 });
      expect(est.examples).toBe(3);
      const tensors = new Map<string, Float32Array>();
      for (const [n, t] of file.tensors) tensors.set(n, await t.readF32());
      const ref: RefModel = { config: c, tensor: (n) => tensors.get(n)!, linear: (n) => ({ w: tensors.get(n)! }) };
      const batchOf = (w: number[]) => ({ ids: w.slice(0, T), targets: w.slice(1), mask: new Array(T).fill(1), B: 1, T });
      const grads = windows.map((w) => llamaBackwardRef(ref, batchOf(w)));
      let worst = 0;
      for (const p of paramSpec(c).filter((q) => q.kind === 'linear' && q.layer !== null)) {
        const want = new Float64Array(p.shape[0] * p.shape[1]);
        for (const g of grads) g.dW.get(p.name)!.forEach((d, i) => (want[i] += (d * d) / windows.length));
        const rel = maxRel(est.f.get(p.name)!.f, want);
        worst = Math.max(worst, rel);
        expect(rel, p.name).toBeLessThan(1e-3);
      }
      console.log(`collectFisher vs mean (dW_ref)²: max rel ${worst.toExponential(2)} over ${est.f.size} weights`);
      // Central finite difference of window 0's loss w.r.t. one entry of layer 1's up_proj.
      const name = 'model.layers.1.mlp.up_proj.weight';
      const w = tensors.get(name)!;
      const k = 5 * c.hiddenSize + 3;
      const h = 1e-3;
      const w0 = w[k];
      const lossAt = (v: number) => {
        w[k] = v;
        return llamaLossRef(ref, batchOf(windows[0]));
      };
      const fd = (lossAt(w0 + h) - lossAt(w0 - h)) / (2 * h);
      w[k] = w0;
      const g = grads[0].dW.get(name)![k];
      console.log(`∂L/∂W[${k}] of ${name}: reference ${g.toExponential(5)}, finite difference ${fd.toExponential(5)}; F ${est.f.get(name)!.f[k].toExponential(4)}`);
      expect(Math.abs(fd - g)).toBeLessThan(1e-4 * Math.max(1, Math.abs(g)) + 1e-6);
      // The rank-1 form: row and column sums.
      const rc = fisherWeights(est).get(name)!;
      expect(rc.row.length).toBe(c.intermediateSize);
      expect(rc.col.length).toBe(c.hiddenSize);
    } finally {
      weights.destroy();
    }
  });
});

describe.skipIf(!(stories && shakespeare))('Fisher-weighted LQ-LoRA split on stories260K', () => {
  it('has a lower Fisher-weighted error than the unweighted split on every layer linear (2-bit, rank 4)', async () => {
    const ctx = await gpu();
    const file = await openModelPath(stories!);
    const weights = await loadWeights(ctx, file);
    try {
      const ids = file.tokenizer!.encode(readFileSync(shakespeare!, 'utf8').slice(0, 40000), { addBos: true });
      const est = await collectFisher(new LlamaModel(ctx, weights), file, calibrationWindows(ids, 64, 8), { batch: 4 });
      const rc = fisherWeights(est);
      let [sumPlain, sumWeighted] = [0, 0];
      const lines: string[] = [];
      for (const [name, wt] of rc) {
        const t = file.tensors.get(name)!;
        const [rows, cols] = t.shape;
        const w = await t.readF32();
        const o = { bits: 2 as const, groupSize: 64, rank: 4, rounds: 3, seed: 3 };
        const err = (init: LqLoraInit) => {
          const dq = dequantizeQ(init.q);
          const e = new Float64Array(rows * cols);
          for (let i = 0; i < rows; i++)
            for (let c = 0; c < cols; c++) {
              let l = 0;
              for (let j = 0; j < 4; j++) l += init.b[i * 4 + j] * init.a[j * cols + c];
              e[i * cols + c] = w[i * cols + c] - dq[i * cols + c] - l;
            }
          return weightedRelError(e, w, rows, cols, wt);
        };
        const [p, q] = [err(lqloraInit(w, rows, cols, o, name)), err(lqloraInit(w, rows, cols, { ...o, weights: wt }, name))];
        sumPlain += p;
        sumWeighted += q;
        lines.push(`${name.replace('model.layers.', 'L').replace('.weight', '')} ${p.toFixed(4)} → ${q.toFixed(4)}`);
        expect(q, name).toBeLessThan(p);
      }
      console.log(`Fisher-weighted rel. error, unweighted split → weighted split (8 windows × 64 tokens):\n  ${lines.join('\n  ')}\n  mean ${(sumPlain / rc.size).toFixed(4)} → ${(sumWeighted / rc.size).toFixed(4)}`);
    } finally {
      weights.destroy();
      await file.close();
    }
  }, 300_000);
});
