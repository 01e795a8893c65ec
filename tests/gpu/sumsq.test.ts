// Column sums of squares (sumsq_columns.wgsl, the importance-matrix collector's
// kernel) against the f64 reference: random and awkward shapes (one row, one
// column, widths not a multiple of 64, rows not a multiple of the 4 row
// slices, a 3-D input whose leading dimensions are rows), accumulation over
// several calls into one f32 accumulator, and the shape checks.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { compareArrays } from '../../src/gpu/compare.ts';
import { sumsqColumns } from '../../src/gpu/kernels/sumsq.ts';
import { sumsqColumnsRef } from '../../src/ref/sumsq.ts';

/** Max relative error per column (every column sum is positive); printed for the report. */
function check(name: string, got: Float32Array, want: Float64Array, tol: number): void {
  const s = compareArrays(got, want);
  let maxRel = 0;
  for (let i = 0; i < want.length; i++) maxRel = Math.max(maxRel, Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), 1e-30));
  console.log(`sumsq ${name}: max abs ${s.maxAbs.toExponential(2)}, max rel ${maxRel.toExponential(2)}`);
  expect(maxRel, name).toBeLessThanOrEqual(tol);
}

describe('sumsq_columns: GPU vs reference', () => {
  const shapes: number[][] = [[1, 1], [1, 64], [5, 1], [3, 7], [16, 64], [7, 65], [33, 129], [2, 5, 96], [64, 288], [1000, 3], [257, 768]];
  for (const shape of shapes)
    it(`x [${shape}]`, async () => {
      const ctx = await gpu();
      const n = shape.reduce((a, b) => a * b, 1);
      const I = shape[shape.length - 1];
      const x = randomF32(n, n + I).map((v, i) => v * (1 + (i % 5))); // uneven column scales
      const acc0 = randomF32(I, I + 3).map(Math.abs);
      const tx = GpuTensor.from(ctx, x, shape, 'f32');
      const tacc = GpuTensor.from(ctx, acc0, [I], 'f32');
      sumsqColumns(ctx, tacc, tx);
      check(`[${shape}]`, await tacc.read(), sumsqColumnsRef(x, I, acc0), 2e-6 * Math.max(1, Math.log2(n / I + 1)));
      [tx, tacc].forEach((t) => t.destroy());
    });

  it('accumulates over calls in one encoder (8 forwards of [64, 96])', async () => {
    const ctx = await gpu();
    const I = 96;
    const acc = GpuTensor.from(ctx, new Float32Array(I), [I], 'f32');
    let want: Float64Array = new Float64Array(I);
    const enc = ctx.device.createCommandEncoder();
    const xs: GpuTensor<'f32'>[] = [];
    for (let k = 0; k < 8; k++) {
      const x = randomF32(64 * I, 100 + k);
      xs.push(GpuTensor.from(ctx, x, [64, I], 'f32'));
      sumsqColumns(ctx, acc, xs[k], { encoder: enc });
      want = sumsqColumnsRef(x, I, want);
    }
    ctx.device.queue.submit([enc.finish()]);
    check('8 × [64, 96]', await acc.read(), want, 1e-5);
    [acc, ...xs].forEach((t) => t.destroy());
  });

  it('refuses an accumulator that does not match the last dimension', async () => {
    const ctx = await gpu();
    const x = GpuTensor.empty(ctx, [4, 6], 'f32');
    const acc = GpuTensor.empty(ctx, [4], 'f32');
    expect(() => sumsqColumns(ctx, acc, x)).toThrow(/does not match the last dimension/);
    expect(() => sumsqColumns(ctx, x, x)).toThrow(/does not match|share a buffer/);
    [x, acc].forEach((t) => t.destroy());
  });
});
