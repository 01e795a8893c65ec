// Broadcast bias add against the f64 reference on odd row widths, a 3-D
// output and a folded grid; shape mismatches are refused.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/close.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { biasAdd } from '../../src/gpu/kernels/bias_add.ts';
import { biasAddRef } from '../../src/ref/bias_add.ts';

describe('bias_add: GPU vs reference', () => {
  for (const [shape, foldAt] of [
    [[1, 1], undefined],
    [[7, 33], undefined],
    [[2, 5, 96], undefined],
    [[300, 37], 5], // 44 workgroups folded to [5, 9]
  ] as const)
    it(`y [${shape}]${foldAt ? ` foldAt=${foldAt}` : ''}`, async () => {
      const ctx = await gpu();
      const n = shape.reduce((a: number, b: number) => a * b, 1);
      const O = shape[shape.length - 1];
      const x = randomF32(n, n);
      const b = randomF32(O, O + 7);
      const ty = GpuTensor.from(ctx, x, shape, 'f32');
      const tb = GpuTensor.from(ctx, b, [O], 'f32');
      biasAdd(ctx, ty, tb, { foldAt });
      expectClose('y + b', await ty.read(), biasAddRef(x, b), 1e-7);
      [ty, tb].forEach((t) => t.destroy());
    });

  it('refuses a bias that does not match the last dimension', async () => {
    const ctx = await gpu();
    const y = GpuTensor.empty(ctx, [4, 6], 'f32');
    const b = GpuTensor.empty(ctx, [4], 'f32');
    expect(() => biasAdd(ctx, y, b)).toThrow(/does not match the last dimension/);
    [y, b].forEach((t) => t.destroy());
  });
});
