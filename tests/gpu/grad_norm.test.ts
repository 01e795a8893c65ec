// Global gradient norm on the GPU (grad_norm.wgsl) against the f64 reference:
// single tensors of awkward sizes, several tensors at once, a folded grid,
// NaN/±Inf counted and left out, f32 overflow, and bit-identical repeats.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { gradNorm } from '../../src/gpu/kernels/grad_norm.ts';
import { gradNormRef } from '../../src/ref/grad_norm.ts';

const relErr = (got: number, want: number) => Math.abs(got - want) / Math.abs(want);
const log = (msg: string) => process.env.SUB4_PRINT_ERRORS && console.log(msg);

describe('grad norm: GPU vs reference', () => {
  const cases: [string, number[], number?][] = [
    ['n=1', [1]],
    ['n=5', [5]],
    ['n=1000', [1000]],
    ['n=1_000_003', [1_000_003]],
    ['several tensors', [1, 5, 1000, 1_000_003, 257, 0, 65_536]],
    ['folded grid', [100_003, 31], 3], // 391 partials in 7 workgroups folded to [3, 3]
  ];
  for (const [name, sizes, foldAt] of cases)
    it(name, async () => {
      const ctx = await gpu();
      // Every tensor adds a different, comparable share of Σ g² ((k + 1)²/3), so
      // a tensor dropped or counted twice moves the norm far past the tolerance.
      const hosts = sizes.map((n, k) => randomF32(n, 11 + k).map((v) => (v * (k + 1)) / Math.sqrt(n)));
      const ts = hosts.map((h) => GpuTensor.from(ctx, h, [h.length], 'f32'));
      const got = await gradNorm(ctx, ts, { foldAt });
      const want = gradNormRef(hosts);
      const e = relErr(got.norm, want.norm);
      log(`grad norm ${name}: got ${got.norm}, want ${want.norm}, rel ${e.toExponential(2)}`);
      expect(got.nonFinite).toBe(0);
      expect(e, `norm ${got.norm} vs ${want.norm}`).toBeLessThanOrEqual(1e-6);
      ts.forEach((t) => t.destroy());
    });

  it('counts NaN and ±Inf and leaves them out of the norm', async () => {
    const ctx = await gpu();
    const a = randomF32(3000, 1);
    const b = randomF32(77, 2);
    const c = randomF32(1, 3);
    a[1234] = NaN;
    a[2999] = -Infinity;
    b[0] = Infinity;
    const ts = [a, b, c].map((h) => GpuTensor.from(ctx, h, [h.length], 'f32'));
    const got = await gradNorm(ctx, ts);
    const want = gradNormRef([a, b, c]);
    expect(want.nonFinite).toBe(3);
    expect(got.nonFinite).toBe(3);
    expect(relErr(got.norm, want.norm)).toBeLessThanOrEqual(1e-6);
    ts.forEach((t) => t.destroy());
  });

  it('reports an infinite norm, not a non-finite value, when Σ g² overflows f32', async () => {
    const ctx = await gpu();
    const h = new Float32Array([1, 2e19, 3]);
    const t = GpuTensor.from(ctx, h, [3], 'f32');
    const got = await gradNorm(ctx, [t]);
    expect(got.nonFinite).toBe(0);
    expect(got.norm).toBe(Infinity);
    t.destroy();
  });

  it('is 0 for no values, and bit-identical when repeated', async () => {
    const ctx = await gpu();
    expect(await gradNorm(ctx, [])).toEqual({ sumSquares: 0, norm: 0, nonFinite: 0 });
    const hosts = [randomF32(123_457, 5), randomF32(999, 6)];
    const ts = hosts.map((h) => GpuTensor.from(ctx, h, [h.length], 'f32'));
    const first = await gradNorm(ctx, ts);
    for (let k = 0; k < 3; k++) expect(Object.is((await gradNorm(ctx, ts)).sumSquares, first.sumSquares)).toBe(true);
    ts.forEach((t) => t.destroy());
  });
});
