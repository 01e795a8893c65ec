// GeGLU kernels (GeLU-tanh gate, Gemma's MLP): GPU against the f64 reference
// (h; dg and du) on awkward sizes, a folded grid and gates far into both tails
// (|g| up to 120, where g³ is 1.7e6 and a naive tanh via exp(2a) overflows),
// printing max abs/rel errors; the reference backward against central finite
// differences of the reference forward.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/close.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { gegluBackward, gegluForward } from '../../src/gpu/kernels/geglu.ts';
import { gegluBackwardRef, gegluForwardRef, geluTanhRef } from '../../src/ref/geglu.ts';

const cases = [
  { N: 1, F: 1, scale: 3 },
  { N: 1, F: 192, scale: 3 },
  { N: 3, F: 257, scale: 8 },
  { N: 7, F: 1000, scale: 120, foldAt: 4 }, // 28 workgroups folded to [4, 7]
];

describe('geglu: GPU vs reference', () => {
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
      gegluForward(ctx, th, tg, tu, opts);
      gegluBackward(ctx, { dg: tdg, du: tdu }, tdh, tg, tu, opts);
      const want = gegluBackwardRef(dh, g, u);
      const report = (name: string, got: Float32Array, ref: Float64Array, tol: number) => {
        // Relative to each value, floored at 1e-6 of the largest: the far negative tail is ~1e-14 in f64 and 0 in f32.
        const big = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        let abs = 0, rel = 0;
        got.forEach((v, i) => ((abs = Math.max(abs, Math.abs(v - ref[i]))), (rel = Math.max(rel, Math.abs(v - ref[i]) / Math.max(Math.abs(ref[i]), 1e-6 * big)))));
        console.log(`geglu N=${c.N} F=${c.F} ${name}: max abs ${abs.toExponential(2)}, max rel ${rel.toExponential(2)}`);
        expectClose(name, got, ref, tol);
      };
      report('h', await th.read(), gegluForwardRef(g, u), 1e-5);
      report('dg', await tdg.read(), want.dg, 1e-4);
      report('du', await tdu.read(), want.du, 1e-4);
      [tg, tu, tdh, th, tdg, tdu].forEach((t) => t.destroy());
    });

  it('is finite and exact in the tails (g = ±120, ±30, 0)', async () => {
    const ctx = await gpu();
    const g = Float32Array.from([-120, -30, 0, 30, 120]);
    const u = Float32Array.from([1, 1, 1, 1, 1]);
    const [tg, tu, tdh] = [g, u, u].map((v) => GpuTensor.from(ctx, v, [5], 'f32'));
    const [th, tdg, tdu] = [0, 1, 2].map(() => GpuTensor.empty(ctx, [5], 'f32'));
    gegluForward(ctx, th, tg, tu);
    gegluBackward(ctx, { dg: tdg, du: tdu }, tdh, tg, tu);
    const h = await th.read();
    const dg = await tdg.read();
    expect([...h, ...dg].every(Number.isFinite)).toBe(true);
    expect(h[4]).toBe(120);
    expect(h[3]).toBe(30);
    expect(dg[4]).toBe(1);
    expect(Math.abs(h[0])).toBe(0);
    expect(Math.abs(h[2])).toBe(0);
    expect(dg[2]).toBe(0.5); // gelu'(0) = ½
    expect(() => gegluForward(ctx, th, tg, GpuTensor.empty(ctx, [6], 'f32'))).toThrow(/sizes differ/);
    expect(() => gegluForward(ctx, tg, tg, tu)).toThrow(/aliases/);
    [tg, tu, tdh, th, tdg, tdu].forEach((t) => t.destroy());
  });
});

describe('geglu reference vs finite differences and PyTorch values', () => {
  it('dg and du are the gradient of Σ G ⊙ h', () => {
    const g = Float64Array.from(randomF32(40, 5).map((v) => v * 6));
    const u = Float64Array.from(randomF32(40, 6));
    const G = randomF32(40, 7);
    const loss = (gg: Float64Array, uu: Float64Array) => gegluForwardRef(gg, uu).reduce((s, v, i) => s + v * G[i], 0);
    const h = 1e-5;
    const fd = (v: Float64Array, f: (p: Float64Array) => number) =>
      v.map((_, i) => {
        const p = v.slice();
        p[i] += h;
        const up = f(p);
        p[i] -= 2 * h;
        return (up - f(p)) / (2 * h);
      });
    const { dg, du } = gegluBackwardRef(G, g, u);
    expectClose('dg vs finite differences', dg, fd(g, (p) => loss(p, u)), 1e-8);
    expectClose('du vs finite differences', du, fd(u, (p) => loss(g, p)), 1e-8);
  });
  it('matches torch.nn.functional.gelu(x, approximate="tanh") at known points', () => {
    // torch.nn.functional.gelu(torch.tensor([1., -1., 2.]), approximate='tanh') prints 0.8412, -0.1588, 1.9546 (f32: 0.841192, -0.158808, 1.954598).
    expect(geluTanhRef(1)).toBeCloseTo(0.841192, 6);
    expect(geluTanhRef(-1)).toBeCloseTo(-0.158808, 6);
    expect(geluTanhRef(2)).toBeCloseTo(1.954598, 6);
  });
});
