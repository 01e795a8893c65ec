// Residual add: y = a + b and the in-place y += b against the f64 sum (exact
// up to one f32 rounding), on awkward sizes and a folded grid; aliasing forms
// route to the in-place kernel.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/close.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { accumulate, add, foldedGrid } from '../../src/gpu/kernels/elementwise.ts';

const sum = (a: Float32Array, b: Float32Array) => Float64Array.from(a, (v, i) => v + b[i]);

describe('add / accumulate: GPU vs reference', () => {
  for (const [n, foldAt] of [
    [1, undefined],
    [255, undefined],
    [257, undefined],
    [3 * 4097, undefined],
    [10_000, 6], // 40 workgroups folded to [6, 7]
  ] as const)
    it(`n=${n}${foldAt ? ` foldAt=${foldAt}` : ''}`, async () => {
      const ctx = await gpu();
      const a = randomF32(n, n);
      const b = randomF32(n, n + 1);
      const [ta, tb] = [a, b].map((v) => GpuTensor.from(ctx, v, [n], 'f32'));
      const ty = GpuTensor.from(ctx, new Float32Array(n).fill(NaN), [n], 'f32');
      add(ctx, ty, ta, tb, { foldAt });
      expectClose('a + b', await ty.read(), sum(a, b), 1e-7);
      accumulate(ctx, ta, tb, { foldAt });
      expectClose('a += b', await ta.read(), sum(a, b), 1e-7);
      add(ctx, tb, ta, tb, { foldAt }); // y = b: in place
      expectClose('b = (a + b) + b', await tb.read(), Float64Array.from(sum(a, b), (v, i) => Math.fround(v) + b[i]), 1e-7);
      [ta, tb, ty].forEach((t) => t.destroy());
    });

  it('checks sizes and folds grids at the limit', async () => {
    const ctx = await gpu();
    const [a, b] = [3, 4].map((n) => GpuTensor.empty(ctx, [n], 'f32'));
    expect(() => add(ctx, a, a, b)).toThrow(/sizes differ/);
    expect(() => accumulate(ctx, a, a)).toThrow(/same tensor/);
    expect(foldedGrid(65535 * 256, 256)).toEqual([65535, 1]);
    expect(foldedGrid(65535 * 256 + 1, 256)).toEqual([65535, 2]);
    expect(foldedGrid(0, 256)).toEqual([1, 1]);
    [a, b].forEach((t) => t.destroy());
  });
});
