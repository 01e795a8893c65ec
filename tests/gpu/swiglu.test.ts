// SwiGLU kernels: GPU against the f64 reference (h; dg and du) on awkward sizes,
// a folded grid, and gates far into both tails (|g| up to 120, where a naive
// 1/(1 + exp(−g)) overflows); the reference backward against central finite
// differences of the reference forward.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/close.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { swigluBackward, swigluForward } from '../../src/gpu/kernels/swiglu.ts';
import { swigluBackwardRef, swigluForwardRef } from '../../src/ref/swiglu.ts';

interface Case {
  N: number;
  F: number;
  /** Gate magnitude. */
  scale: number;
  foldAt?: number;
}
const cases: Case[] = [
  { N: 1, F: 1, scale: 3 },
  { N: 1, F: 172, scale: 3 },
  { N: 3, F: 257, scale: 8 },
  { N: 7, F: 1000, scale: 120, foldAt: 4 }, // 28 workgroups folded to [4, 7]
];

describe('swiglu: GPU vs reference', () => {
  for (const c of cases)
    it(`N=${c.N} F=${c.F} |g|≤${c.scale}${c.foldAt ? ` foldAt=${c.foldAt}` : ''}`, async () => {
      const ctx = await gpu();
      const n = c.N * c.F;
      const g = randomF32(n, n + 1).map((v) => v * c.scale);
      const u = randomF32(n, n + 2);
      const dh = randomF32(n, n + 3);
      const shape = [c.N, c.F];
      const [tg, tu, tdh] = [g, u, dh].map((v) => GpuTensor.from(ctx, v, shape, 'f32'));
      const [th, tdg, tdu] = [0, 1, 2].map(() => GpuTensor.from(ctx, new Float32Array(n).fill(NaN), shape, 'f32'));
      const opts = { foldAt: c.foldAt };
      swigluForward(ctx, th, tg, tu, opts);
      swigluBackward(ctx, { dg: tdg, du: tdu }, tdh, tg, tu, opts);
      const want = swigluBackwardRef(dh, g, u);
      expectClose('h', await th.read(), swigluForwardRef(g, u), 1e-5);
      expectClose('dg', await tdg.read(), want.dg, 1e-4);
      expectClose('du', await tdu.read(), want.du, 1e-4);
      [tg, tu, tdh, th, tdg, tdu].forEach((t) => t.destroy());
    });

  it('is finite and exact in the tails (g = ±120, ±30, 0)', async () => {
    const ctx = await gpu();
    const g = Float32Array.from([-120, -30, 0, 30, 120]);
    const u = Float32Array.from([1, 1, 1, 1, 1]);
    const [tg, tu, tdh] = [g, u, u].map((v) => GpuTensor.from(ctx, v, [5], 'f32'));
    const [th, tdg, tdu] = [0, 1, 2].map(() => GpuTensor.empty(ctx, [5], 'f32'));
    swigluForward(ctx, th, tg, tu);
    swigluBackward(ctx, { dg: tdg, du: tdu }, tdh, tg, tu);
    const h = await th.read();
    const dg = await tdg.read();
    expect([...h, ...dg].every(Number.isFinite)).toBe(true);
    expect(h[4]).toBe(120);
    expect(dg[4]).toBe(1);
    expect(Math.abs(h[0])).toBeLessThan(1e-40);
    expect(() => swigluForward(ctx, th, tg, GpuTensor.empty(ctx, [6], 'f32'))).toThrow(/sizes differ/);
    expect(() => swigluForward(ctx, tg, tg, tu)).toThrow(/aliases/);
    [tg, tu, tdh, th, tdg, tdu].forEach((t) => t.destroy());
  });
});

describe('swiglu reference vs finite differences', () => {
  it('dg and du are the gradient of Σ G ⊙ h', () => {
    const g = Float64Array.from(randomF32(40, 5).map((v) => v * 6));
    const u = Float64Array.from(randomF32(40, 6));
    const G = randomF32(40, 7);
    const loss = (gg: Float64Array, uu: Float64Array) => swigluForwardRef(gg, uu).reduce((s, v, i) => s + v * G[i], 0);
    const h = 1e-5;
    const fd = (v: Float64Array, f: (p: Float64Array) => number) =>
      v.map((_, i) => {
        const p = v.slice();
        p[i] += h;
        const up = f(p);
        p[i] -= 2 * h;
        return (up - f(p)) / (2 * h);
      });
    const { dg, du } = swigluBackwardRef(G, g, u);
    expectClose('dg vs finite differences', dg, fd(g, (p) => loss(p, u)), 1e-8);
    expectClose('du vs finite differences', du, fd(u, (p) => loss(g, p)), 1e-8);
  });
});
