import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { normRelError } from '../../src/gpu/compare.ts';
import { matmulT, type Transpose } from '../../src/gpu/kernels/matmul_strided.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { matmulStridedRef } from '../../src/ref/matmul.ts';

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  [17, 4, 33],
  [64, 9, 2],
  [5, 130, 6],
];

describe('matmul_strided', () => {
  for (const mode of ['nt', 'nn', 'tn'] as Transpose[])
    for (const [T, K, O] of SHAPES)
      for (const beta of [0, 1])
        it(`${mode} T=${T} K=${K} O=${O} beta=${beta}`, async () => {
          const ctx = await gpu();
          const xs = randomF32(T * K, T + K);
          const ws = randomF32(O * K, O * 7 + K);
          const y0 = randomF32(T * O, 3);
          const x = GpuTensor.from(ctx, xs, mode === 'tn' ? [K, T] : [T, K], 'f32');
          const w = GpuTensor.from(ctx, ws, mode === 'nt' ? [O, K] : [K, O], 'f32');
          const y = GpuTensor.from(ctx, y0, [T, O], 'f32');
          matmulT(ctx, mode, y, x, w, { alpha: 0.5, beta });
          const got = await y.read();
          [x, w, y].forEach((t) => t.destroy());
          const xst: [number, number] = mode === 'tn' ? [1, T] : [K, 1];
          const wst: [number, number] = mode === 'nt' ? [K, 1] : [1, O];
          const want = matmulStridedRef(xs, ws, T, K, O, xst, wst, 0.5, beta, y0);
          expect(normRelError(got, want), `${mode} [${T},${K},${O}]`).toBeLessThanOrEqual(1e-5);
        });
});
