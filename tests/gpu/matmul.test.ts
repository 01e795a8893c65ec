// Every matmul variant against the f64 CPU reference on odd shapes: T, I, O
// that are not multiples of any tile, including 1. Failures print max abs/rel
// error and the worst index.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { compareArrays, normRelError } from '../../src/gpu/compare.ts';
import { MATMUL_VARIANTS, chooseMatmulVariant, matmul, type MatmulVariant } from '../../src/gpu/kernels/matmul.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { matmulRef } from '../../src/ref/matmul.ts';

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 4, 1],
  [1, 64, 172],
  [3, 5, 7],
  [7, 12, 33],
  [5, 172, 64],
  [65, 20, 63],
  [17, 1, 9],
  [130, 68, 67],
];

async function run(v: MatmulVariant, T: number, I: number, O: number) {
  const ctx = await gpu();
  const xs = randomF32(T * I, T * 1000 + I);
  const ws = randomF32(O * I, O * 1000 + I + 7);
  const x = GpuTensor.from(ctx, xs, [T, I], 'f32');
  const w = GpuTensor.from(ctx, ws, [O, I], 'f32');
  const y = GpuTensor.from(ctx, new Float32Array(T * O).fill(NaN), [T, O], 'f32');
  matmul(ctx, y, x, w, { variant: v });
  const got = await y.read();
  [x, w, y].forEach((t) => t.destroy());
  return { got, want: matmulRef(xs, ws, T, I, O) };
}

describe('matmul Y = X·Wᵀ', () => {
  for (const v of MATMUL_VARIANTS)
    for (const [T, I, O] of SHAPES) {
      if (v === 'blocked' && I % 4 !== 0) continue;
      it(`${v} T=${T} I=${I} O=${O}`, async () => {
        const { got, want } = await run(v, T, I, O);
        const s = compareArrays(got, want);
        const rel = normRelError(got, want);
        const msg = `${v} [${T},${I}]·[${O},${I}]ᵀ: max abs ${s.maxAbs.toExponential(3)}, max rel (to max |ref|) ${rel.toExponential(3)}, worst index ${s.worst} got ${got[s.worst]} want ${want[s.worst]}`;
        expect(rel, msg).toBeLessThanOrEqual(1e-5);
      });
    }

  it('rejects shapes that do not fit', async () => {
    const ctx = await gpu();
    const x = GpuTensor.empty(ctx, [2, 3], 'f32');
    const w = GpuTensor.empty(ctx, [4, 5], 'f32');
    const y = GpuTensor.empty(ctx, [2, 4], 'f32');
    expect(() => matmul(ctx, y, x, w)).toThrow(/do not fit/);
    expect(() => matmul(ctx, y, x, GpuTensor.empty(ctx, [4, 3], 'f32'), { variant: 'blocked' })).toThrow(/I % 4/);
  });

  it('auto picks a kernel that can run the shape', async () => {
    const ctx = await gpu();
    expect(chooseMatmulVariant(ctx, 128, 5)).toBe('naive');
    expect(chooseMatmulVariant(ctx, 1, 64)).toBe('blocked');
    expect(chooseMatmulVariant(ctx, 128, 64)).toBe(ctx.adapter.isSoftware ? 'blocked' : 'tiled');
  });
});
