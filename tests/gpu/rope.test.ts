// RoPE kernels: GPU against the f64 reference (forward and backward, in place on
// q and k, GQA head counts, D = 2..128, every RopeScaling type) at positions 0,
// 1, 1000, 8191, 131071 and beyond, where an f32 angle would already be off by
// ~1e-3; the reference backward against central finite differences; the
// llama3 table against llama.cpp's converter formulation (rope_freqs factors).
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/close.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { randomF32, rng } from '../../src/gpu/random.ts';
import { createRopeTable, ropeBackward, ropeForward, ropeTurnTable } from '../../src/gpu/kernels/rope.ts';
import { ropeInvFreq } from '../../src/arch/rope_freq.ts';
import { ropeBackwardRef, ropeForwardRef } from '../../src/ref/rope.ts';
import type { RopeScaling } from '../../src/arch/config.ts';

const LLAMA31: RopeScaling = { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 };
const EDGE_POSITIONS = [0, 1, 1000, 8191, 131071];

/** llama.cpp convert_hf_to_gguf.py (LlamaModel) rope_freqs for llama3 scaling: an independent formulation. */
function llamaCppRopeFactors(D: number, theta: number, s: Extract<RopeScaling, { type: 'llama3' }>): number[] {
  const out: number[] = [];
  for (let i = 0; i < D; i += 2) {
    const freq = 1 / theta ** (i / D);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < s.originalMaxPositions / s.highFreqFactor) out.push(1);
    else if (wavelen > s.originalMaxPositions / s.lowFreqFactor) out.push(s.factor);
    else {
      const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out.push(1 / ((1 - smooth) / s.factor + smooth));
    }
  }
  return out;
}

interface Case {
  N: number;
  H: number;
  K: number;
  D: number;
  theta: number;
  scaling: RopeScaling;
  factors?: number[];
  positions: number[];
  foldAt?: number;
}
const randomPositions = (n: number, max: number, seed: number) => {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.floor(r() * max));
};
const cases: Case[] = [
  { N: 1, H: 1, K: 1, D: 2, theta: 10000, scaling: { type: 'none' }, positions: [131071] },
  { N: 5, H: 4, K: 2, D: 8, theta: 10000, scaling: { type: 'none' }, positions: EDGE_POSITIONS },
  { N: 5, H: 3, K: 1, D: 64, theta: 500000, scaling: LLAMA31, positions: EDGE_POSITIONS },
  { N: 5, H: 2, K: 2, D: 128, theta: 500000, scaling: { type: 'freq_factors' }, factors: llamaCppRopeFactors(128, 500000, LLAMA31), positions: EDGE_POSITIONS },
  { N: 6, H: 2, K: 0, D: 128, theta: 1e6, scaling: { type: 'linear', factor: 4 }, positions: randomPositions(6, 2 ** 32, 3) }, // any u32 position; q alone
  { N: 300, H: 2, K: 1, D: 8, theta: 10000, scaling: { type: 'none' }, positions: randomPositions(300, 140000, 4), foldAt: 5 }, // [5, 4] workgroups
];

describe('rope: GPU vs reference', () => {
  for (const c of cases)
    it(`N=${c.N} H=${c.H} K=${c.K} D=${c.D} ${c.scaling.type}${c.foldAt ? ` foldAt=${c.foldAt}` : ''}`, async () => {
      const ctx = await gpu();
      const table = createRopeTable(ctx, ropeInvFreq(c.D, c.theta, c.scaling, c.factors));
      const pos = GpuTensor.from(ctx, Uint32Array.from(c.positions), [c.N], 'u32');
      const q = randomF32(c.N * c.H * c.D, c.N + c.D);
      const k = randomF32(c.N * c.K * c.D, c.N + c.D + 1);
      const tq = GpuTensor.from(ctx, q, [c.N, c.H, c.D], 'f32');
      const tk = c.K ? GpuTensor.from(ctx, k, [c.N, c.K, c.D], 'f32') : null;
      const opts = { foldAt: c.foldAt };
      ropeForward(ctx, tq, tk, pos, table, opts);
      expectClose('q', await tq.read(), ropeForwardRef(q, c.positions, table.invFreq), 1e-5);
      if (tk) expectClose('k', await tk.read(), ropeForwardRef(k, c.positions, table.invFreq), 1e-5);
      // Backward, in place on fresh gradients.
      tq.write(q);
      tk?.write(k);
      ropeBackward(ctx, tq, tk, pos, table, opts);
      expectClose('dq', await tq.read(), ropeBackwardRef(q, c.positions, table.invFreq), 1e-4);
      if (tk) expectClose('dk', await tk.read(), ropeBackwardRef(k, c.positions, table.invFreq), 1e-4);
      [tq, tk, pos].forEach((t) => t?.destroy());
      table.destroy();
    });

  it('the edge positions discriminate: an f32 angle pos·inv_freq would miss the 1e-5 bound', () => {
    const inv = ropeInvFreq(64, 500000, LLAMA31);
    let worst = 0;
    for (const p of EDGE_POSITIONS)
      for (const f of inv) worst = Math.max(worst, Math.abs(Math.sin(Math.fround(p * Math.fround(f))) - Math.sin(p * f)));
    expect(worst).toBeGreaterThan(1e-4);
  });

  it('rejects shapes that are not rows of heads, and a missing rope_freqs', async () => {
    const ctx = await gpu();
    const table = createRopeTable(ctx, ropeInvFreq(8, 10000, { type: 'none' }));
    const pos = GpuTensor.from(ctx, new Uint32Array(3), [3], 'u32');
    const bad = GpuTensor.empty(ctx, [3, 12], 'f32');
    const q = GpuTensor.empty(ctx, [3, 16], 'f32');
    expect(() => ropeForward(ctx, bad, null, pos, table)).toThrow(/not 3 rows of heads of width D = 8/);
    expect(() => ropeForward(ctx, q, q, pos, table)).toThrow(/same tensor/);
    expect(() => ropeInvFreq(8, 10000, { type: 'freq_factors' })).toThrow(/rope_freqs.weight with 4 values/);
    expect(() => ropeInvFreq(7, 10000, { type: 'none' })).toThrow(/not a positive even integer/);
    [pos, bad, q].forEach((t) => t.destroy());
    table.destroy();
  });
});

describe('rope tables', () => {
  it('llama3 scaling equals inv_freq divided by llama.cpp rope_freqs factors', () => {
    for (const D of [64, 128]) {
      const a = ropeInvFreq(D, 500000, LLAMA31);
      const b = ropeInvFreq(D, 500000, { type: 'freq_factors' }, llamaCppRopeFactors(D, 500000, LLAMA31));
      expectClose(`llama3 D=${D}`, a, b, 1e-14);
      const plain = ropeInvFreq(D, 500000, { type: 'none' });
      expect(a[0]).toBe(plain[0]); // high frequencies untouched
      expect(a[D / 2 - 1]).toBeCloseTo(plain[D / 2 - 1] / 8, 20); // low frequencies ÷ factor
    }
  });

  it('linear scaling divides every frequency by the factor', () => {
    const a = ropeInvFreq(16, 10000, { type: 'linear', factor: 2.5 });
    const b = ropeInvFreq(16, 10000, { type: 'none' });
    expectClose('linear', a, b.map((v) => v / 2.5), 1e-15);
  });

  it('turn table holds frac(inv_freq / 2π) to 2⁻⁶⁰', () => {
    const inv = ropeInvFreq(128, 500000, LLAMA31);
    const t = ropeTurnTable(inv);
    inv.forEach((f, i) => {
      const turns = f / (2 * Math.PI);
      const got = (t[2 * i] + t[2 * i + 1] / 2 ** 32) / 2 ** 32;
      expect(Math.abs(got - (turns - Math.floor(turns)))).toBeLessThan(2 ** -60);
    });
  });
});

describe('rope reference vs finite differences', () => {
  it('backward is the gradient of Σ G ⊙ rope(x)', () => {
    const positions = [0, 3, 8191];
    const inv = ropeInvFreq(8, 10000, LLAMA31);
    const x = Float64Array.from(randomF32(3 * 2 * 8, 9));
    const g = randomF32(x.length, 10);
    const loss = (v: Float64Array) => ropeForwardRef(v, positions, inv).reduce((s, y, i) => s + y * g[i], 0);
    const h = 1e-5;
    const fd = x.map((_, i) => {
      const p = x.slice();
      p[i] += h;
      const up = loss(p);
      p[i] -= 2 * h;
      return (up - loss(p)) / (2 * h);
    });
    expectClose('dx vs finite differences', ropeBackwardRef(g, positions, inv), fd, 1e-8);
  });
});
