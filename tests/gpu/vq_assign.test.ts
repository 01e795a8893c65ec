// The nearest-entry search (vq_assign.wgsl, the learned-codebook k-means'
// assignment step) against the f64 reference: random and awkward shapes
// (N = 1, 7, 1000; C = 2, 256, 4096; d = 2, 4, 8), unit and per-position
// weights. Where the reference's best two distances are within a small
// tolerance (a near-tie f32 may break either way) the GPU's pick must be one
// of the near-best; everywhere else it must equal the reference's argmin. The
// near-ties are counted and printed. Also: exact ties (duplicate entries) go
// to the lower entry, N split over several dispatches and host chunks, and
// the encoder with the GPU assigner gives the CPU encoder's codes, and its
// learned tensor runs through the codebook kernels (dequantize, forward).
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { randomF32, rng } from '../../src/gpu/random.ts';
import { gpuAssigner, vqAssign, type GpuAssignerOptions, type VqAssignOptions } from '../../src/gpu/kernels/vq_assign.ts';
import { vqAssignRef, vqDistanceRef } from '../../src/ref/vq_assign.ts';
import { cpuAssign, encodeLearned, type AssignProblem } from '../../src/quant/vq/kmeans.ts';
import type { NodeGpuContext } from '../../src/gpu/node.ts';
import { dequantizeGpu, qlinearForward } from '../../src/gpu/kernels/qlinear.ts';
import { uploadVqTensor } from '../../src/gpu/vq_gpu.ts';
import { vqlinearForwardRef } from '../../src/ref/vqlinear.ts';
import { dequantizeVq } from '../../src/quant/vq/vqtensor.ts';

async function runGpu(ctx: NodeGpuContext, p: AssignProblem, opts: VqAssignOptions = {}): Promise<Uint32Array> {
  const x = GpuTensor.from(ctx, p.x, [p.n, p.d], 'f32');
  const t = GpuTensor.from(ctx, p.table, [p.size, p.d], 'f32');
  const w = GpuTensor.from(ctx, p.weights, [p.positions, p.d], 'f32');
  const out = GpuTensor.empty(ctx, [p.n], 'u32');
  vqAssign(ctx, out, x, t, w, opts);
  const got = await out.read();
  [x, t, w, out].forEach((b) => b.destroy());
  return got;
}

function problem(n: number, size: number, d: 2 | 4 | 8, positions: number, weighted: boolean, seed: number): AssignProblem {
  const r = rng(seed);
  return {
    x: randomF32(n * d, seed + 1),
    n,
    d,
    table: randomF32(size * d, seed + 2),
    size,
    weights: Float32Array.from({ length: positions * d }, () => (weighted ? 0.05 + 2 * r() : 1)),
    positions,
  };
}

/** GPU picks vs the reference; returns the number of near-ties. */
function check(name: string, p: AssignProblem, got: Uint32Array): number {
  const ref = vqAssignRef(p.x, p.n, p.d, p.table, p.size, p.weights, p.positions);
  let ties = 0;
  let wrong = 0;
  for (let v = 0; v < p.n; v++) {
    // f32 rounding bound of the GPU's distance: ~16 ε times the largest term sum.
    let bound = 0;
    for (let j = 0; j < p.d; j++) bound += p.weights[(v % p.positions) * p.d + j] * (Math.abs(p.x[v * p.d + j]) + 1) ** 2;
    const tol = 2e-6 * bound;
    if (ref.second[v] - ref.best[v] <= tol) {
      ties++;
      if (vqDistanceRef(p.x, v, p.d, p.table, got[v], p.weights, p.positions) - ref.best[v] > tol) wrong++;
    } else if (got[v] !== ref.idx[v]) wrong++;
  }
  console.log(`vq_assign ${name}: ${p.n - wrong}/${p.n} agree, ${ties} near-ties`);
  expect(wrong, name).toBe(0);
  return ties;
}

describe('vq_assign: GPU vs reference', () => {
  for (const n of [1, 7, 1000])
    for (const size of [2, 256, 4096])
      for (const d of [2, 4, 8] as const)
        it(`N=${n} C=${size} d=${d}`, async () => {
          const ctx = await gpu();
          const weighted = (n + Math.log2(size) + d / 2) % 2 === 1; // half the cases with per-position weights
          const P = weighted ? Math.min(n, 3) : 1;
          const p = problem(n, size, d, P, weighted, n * 31 + size * 7 + d);
          check(`N=${n} C=${size} d=${d}${weighted ? ` weighted P=${P}` : ''}`, p, await runGpu(ctx, p));
        });

  it('exact ties (duplicate entries, vectors on entries) go to the lower entry', async () => {
    const ctx = await gpu();
    const d = 4;
    const base = randomF32(16 * d, 5);
    const table = new Float32Array(64 * d);
    for (let e = 0; e < 64; e++) table.set(base.subarray((e % 16) * d, (e % 16) * d + d), e * d); // each entry 4 times
    const x = new Float32Array(40 * d);
    for (let v = 0; v < 40; v++) x.set(base.subarray((v % 16) * d, (v % 16) * d + d), v * d);
    const p: AssignProblem = { x, n: 40, d, table, size: 64, weights: new Float32Array(d).fill(1), positions: 1 };
    const got = await runGpu(ctx, p);
    expect(Array.from(got)).toEqual(Array.from({ length: 40 }, (_, v) => v % 16));
    expect(Array.from(got)).toEqual(Array.from(cpuAssign(p)));
  });

  it('splits N over dispatches and host chunks (whole rows per chunk)', async () => {
    const ctx = await gpu();
    const p = problem(999, 300, 8, 9, true, 77); // 111 rows of 9 vectors
    check('999 vectors, 2 workgroups per dispatch', p, await runGpu(ctx, p, { maxWorkgroups: 2 }));
    const opts: GpuAssignerOptions = { maxVectors: 100, maxWorkgroups: 1 }; // chunks of 99 = 11 rows, the last of 9
    check('999 vectors, host chunks of 99', p, await gpuAssigner(ctx, opts)(p));
    await expect(gpuAssigner(ctx, { maxVectors: 8 })(p)).rejects.toThrow(/one matrix row/);
  });

  it('the encoder with the GPU assigner gives the CPU encoder its codes', async () => {
    const ctx = await gpu();
    const [rows, cols] = [24, 40];
    const W = randomF32(rows * cols, 11).map((v, i) => v * (1 + (i % 7)));
    const importance = Float32Array.from({ length: cols }, (_, k) => 0.2 + (k % 5));
    for (const [dim, weighted] of [[2, true], [4, true], [8, true], [4, false], [8, false]] as const) {
      const o = { dim, bits: 6, iters: 6, seed: 4, importance: weighted ? importance : undefined };
      const cpu = await encodeLearned(W, rows, cols, o);
      const g = await encodeLearned(W, rows, cols, { ...o, assign: gpuAssigner(ctx) });
      console.log(`encoder d=${dim}${weighted ? ' (importance)' : ''}: CPU errors ${cpu.errors.map((e) => e.toFixed(4)).join(' ')}; GPU ${g.errors.map((e) => e.toFixed(4)).join(' ')}`);
      expect(g.q.codes).toEqual(cpu.q.codes);
      expect(g.q.codebook.values).toEqual(cpu.q.codebook.values);
      expect(g.error).toBe(cpu.error);
    }
  });

  it('the learned tensor runs through the codebook kernels (8- and 16-bit indices)', async () => {
    const ctx = await gpu();
    const [rows, cols, T] = [48, 64, 5];
    const W = randomF32(rows * cols, 21);
    for (const [dim, bits] of [[4, 8], [8, 10]] as const) {
      const { q } = await encodeLearned(W, rows, cols, { dim, bits, iters: 3, seed: 2, assign: gpuAssigner(ctx) });
      const gq = uploadVqTensor(ctx, q);
      const deq = GpuTensor.empty(ctx, [rows, cols], 'f32');
      dequantizeGpu(ctx, gq, deq);
      expect(await deq.read()).toEqual(dequantizeVq(q));
      const xs = randomF32(T * cols, 22);
      const x = GpuTensor.from(ctx, xs, [T, cols], 'f32');
      const y = GpuTensor.empty(ctx, [T, rows], 'f32');
      qlinearForward(ctx, y, x, gq);
      const got = await y.read();
      const want = vqlinearForwardRef(xs, T, q);
      let maxAbs = 0;
      for (let i = 0; i < want.length; i++) maxAbs = Math.max(maxAbs, Math.abs(got[i] - want[i]));
      console.log(`learned d=${dim} k=${bits} (${q.indexBits}-bit indices): forward max abs error ${maxAbs.toExponential(2)}`);
      expect(maxAbs).toBeLessThan(1e-4);
      [deq, x, y].forEach((t) => t.destroy());
      gq.destroy();
    }
  });
});
