// RMSNorm kernels: GPU against the f64 reference (forward y and rstd, backward
// dx and dw, overwrite and accumulate), both variants, on awkward shapes and
// folded grids (foldAt makes small launches fold as > 65535 workgroups would);
// and the reference backward against central finite differences of the
// reference forward (L = Σ G ⊙ y, so dL/dy = G).
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/close.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { rmsnormBackward, rmsnormForward, rmsnormScratchSize, type RmsnormVariant } from '../../src/gpu/kernels/rmsnorm.ts';
import { rmsnormBackwardRef, rmsnormForwardRef } from '../../src/ref/rmsnorm.ts';

interface Case {
  N: number;
  C: number;
  eps: number;
  /** Magnitude of x: large values stress the f32 sum of squares. */
  scale: number;
  foldAt?: number;
}
const cases: Case[] = [
  // C = 1 with a small eps makes dx = w·dy·eps/(x²+eps)^1.5 a near-total
  // cancellation of two O(1) terms (see rmsnorm_backward.wgsl); eps = 0.5 keeps
  // the shape while the gradient stays well conditioned.
  { N: 1, C: 1, eps: 0.5, scale: 1 },
  { N: 1, C: 7, eps: 1e-5, scale: 1 },
  { N: 3, C: 64, eps: 1e-6, scale: 1 },
  { N: 5, C: 130, eps: 1e-5, scale: 300 },
  { N: 70, C: 33, eps: 1e-6, scale: 1 }, // two dW chunks, the second partial
  { N: 4, C: 8192, eps: 1e-5, scale: 50 },
  { N: 300, C: 3, eps: 1e-6, scale: 1, foldAt: 7 }, // folded: [7, 43] workgroups ('workgroup'), [3, 2] ('row')
  { N: 1000, C: 20, eps: 1e-6, scale: 1, foldAt: 3 },
];
const variants: RmsnormVariant[] = ['row', 'workgroup'];

const scaled = (n: number, seed: number, s: number) => randomF32(n, seed).map((v) => v * s);
const nan = (n: number) => new Float32Array(n).fill(NaN);

describe('rmsnorm: GPU vs reference', () => {
  for (const c of cases)
    for (const variant of variants)
      it(`${variant}: N=${c.N} C=${c.C} eps=${c.eps} |x|≤${c.scale}${c.foldAt ? ` foldAt=${c.foldAt}` : ''}`, async () => {
        const opts = { variant, foldAt: c.foldAt };
        const ctx = await gpu();
        const { N, C } = c;
        const x = scaled(N * C, N + C, c.scale);
        const w = randomF32(C, C + 7).map((v) => v + 1.5);
        const dy = randomF32(N * C, N * 3 + C);
        const tx = GpuTensor.from(ctx, x, [N, C], 'f32');
        const tw = GpuTensor.from(ctx, w, [C], 'f32');
        const ty = GpuTensor.from(ctx, nan(N * C), [N, C], 'f32');
        const tr = GpuTensor.from(ctx, nan(N), [N], 'f32');
        rmsnormForward(ctx, ty, tr, tx, tw, c.eps, opts);
        const want = rmsnormForwardRef(x, w, c.eps);
        expectClose('y', await ty.read(), want.y, 1e-5);
        expectClose('rstd', await tr.read(), want.rstd, 1e-5);

        const grads = rmsnormBackwardRef(dy, x, w, c.eps);
        const tdy = GpuTensor.from(ctx, dy, [N, C], 'f32');
        for (const accumulate of [false, true]) {
          const dx0 = accumulate ? randomF32(N * C, 5) : nan(N * C);
          const dw0 = accumulate ? randomF32(C, 6) : nan(C);
          const tdx = GpuTensor.from(ctx, dx0, [N, C], 'f32');
          const tdw = GpuTensor.from(ctx, dw0, [C], 'f32');
          rmsnormBackward(ctx, { dx: tdx, dw: tdw, accumulate }, tdy, tx, tw, tr, opts);
          const plus = (r: Float64Array, init: Float32Array) => (accumulate ? r.map((v, i) => v + init[i]) : r);
          expectClose(`dx${accumulate ? ' accumulate' : ''}`, await tdx.read(), plus(grads.dx, dx0), 1e-4);
          expectClose(`dw${accumulate ? ' accumulate' : ''}`, await tdw.read(), plus(grads.dw, dw0), 1e-4);
          tdx.destroy();
          tdw.destroy();
        }
        [tx, tw, ty, tr, tdy].forEach((t) => t.destroy());
      });

  it('records dw into a caller encoder with a scratch buffer, and refuses without one', async () => {
    const ctx = await gpu();
    const N = 130;
    const C = 10;
    const x = randomF32(N * C, 1);
    const w = randomF32(C, 2);
    const dy = randomF32(N * C, 3);
    const [tx, tdy] = [x, dy].map((v) => GpuTensor.from(ctx, v, [N, C], 'f32'));
    const tw = GpuTensor.from(ctx, w, [C], 'f32');
    const tr = GpuTensor.empty(ctx, [N], 'f32');
    const ty = GpuTensor.empty(ctx, [N, C], 'f32');
    const tdw = GpuTensor.empty(ctx, [C], 'f32');
    const scratch = GpuTensor.empty(ctx, [rmsnormScratchSize(N, C)], 'f32');
    const enc = ctx.device.createCommandEncoder();
    rmsnormForward(ctx, ty, tr, tx, tw, 1e-6, { encoder: enc });
    expect(() => rmsnormBackward(ctx, { dw: tdw }, tdy, tx, tw, tr, { encoder: enc })).toThrow(/scratch/);
    rmsnormBackward(ctx, { dw: tdw, scratch }, tdy, tx, tw, tr, { encoder: enc });
    ctx.device.queue.submit([enc.finish()]);
    expectClose('dw (encoder)', await tdw.read(), rmsnormBackwardRef(dy, x, w, 1e-6).dw, 1e-4);
    expect(() => rmsnormForward(ctx, ty, tr, tx, GpuTensor.empty(ctx, [C + 1], 'f32'), 1e-6)).toThrow(/does not end in C = 11/);
    expect(() => rmsnormBackward(ctx, { dx: tdy }, tdy, tx, tw, tr)).toThrow(/alias/);
    [tx, tdy, tw, tr, ty, tdw, scratch].forEach((t) => t.destroy());
  });
});

describe('rmsnorm reference vs finite differences', () => {
  for (const [N, C] of [
    [1, 1],
    [2, 5],
    [3, 16],
  ])
    it(`N=${N} C=${C}`, () => {
      const eps = 1e-5;
      const x = Float64Array.from(randomF32(N * C, 40 + C));
      const w = Float64Array.from(randomF32(C, 41 + C));
      const g = randomF32(N * C, 42 + C);
      const loss = (xx: ArrayLike<number>, ww: ArrayLike<number>) => rmsnormForwardRef(xx, ww, eps).y.reduce((s, v, i) => s + v * g[i], 0);
      const h = 1e-5;
      const fd = (v: Float64Array, f: (p: Float64Array) => number) =>
        v.map((_, i) => {
          const p = v.slice();
          p[i] = v[i] + h;
          const up = f(p);
          p[i] = v[i] - h;
          return (up - f(p)) / (2 * h);
        });
      const { dx, dw } = rmsnormBackwardRef(g, x, w, eps);
      expectClose('dx vs finite differences', dx, fd(x, (p) => loss(p, w)), 1e-6);
      expectClose('dw vs finite differences', dw, fd(w, (p) => loss(x, p)), 1e-6);
    });
});
