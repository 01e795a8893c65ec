// Data-aware LQ-LoRA (arXiv 2311.12023 §3.3, src/train/lqlora.ts): the
// two-sided weighted low-rank fit L = D_r⁻¹·SVD_k(D_r·R·D_c)·D_c⁻¹ is the exact
// optimum of ‖√F ⊙ (R − L)‖ for a rank-1 F = r·cᵀ (checked against a
// brute-force weighted alternating least squares on tiny matrices); on a real
// stories260K weight with skewed importances the weighted split's weighted
// error is below the unweighted split's (both printed); the RTN clip search
// with per-column weights is bit-identical to the unweighted one at unit
// weights and lowers the weighted error otherwise.
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { rng } from '../../src/gpu/random.ts';
import { dequantizeQ } from '../../src/quant/qtensor.ts';
import { quantizeRtn } from '../../src/quant/quantize/rtn.ts';
import { lqloraInit, randomizedSvd, rowColForm, weightedLowRank, weightedRelError, type Svd } from '../../src/train/lqlora.ts';

const f32Path = fixture('models/stories260K.gguf');

function gauss(n: number, seed: number): Float64Array {
  const u = rng(seed);
  return Float64Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u()));
}

/** Σ F_ij (R − L)²_ij with F = r·cᵀ. */
function objective(r: Float64Array, l: Float64Array, rows: number, cols: number, rw: Float64Array, cw: Float64Array): number {
  let e = 0;
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) e += rw[i] * cw[j] * (r[i * cols + j] - l[i * cols + j]) ** 2;
  return e;
}

function product(s: Svd, rows: number, cols: number): Float64Array {
  const l = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < s.k; j++) for (let c = 0; c < cols; c++) l[i * cols + c] += s.u[i * s.k + j] * s.s[j] * s.v[c * s.k + j];
  return l;
}

/** Solve the k×k system A x = b (Gaussian elimination with partial pivoting). */
function solve(a: Float64Array, b: Float64Array, k: number): Float64Array {
  const m = Float64Array.from(a);
  const x = Float64Array.from(b);
  for (let p = 0; p < k; p++) {
    let piv = p;
    for (let i = p + 1; i < k; i++) if (Math.abs(m[i * k + p]) > Math.abs(m[piv * k + p])) piv = i;
    for (let j = 0; j < k; j++) [m[p * k + j], m[piv * k + j]] = [m[piv * k + j], m[p * k + j]];
    [x[p], x[piv]] = [x[piv], x[p]];
    for (let i = p + 1; i < k; i++) {
      const f = m[i * k + p] / m[p * k + p];
      for (let j = p; j < k; j++) m[i * k + j] -= f * m[p * k + j];
      x[i] -= f * x[p];
    }
  }
  for (let p = k - 1; p >= 0; p--) {
    for (let j = p + 1; j < k; j++) x[p] -= m[p * k + j] * x[j];
    x[p] /= m[p * k + p];
  }
  return x;
}

/** Brute-force weighted rank-k fit by alternating weighted least squares (general per-element F), from random starts. */
function weightedAls(r: Float64Array, rows: number, cols: number, k: number, f: Float64Array, seed: number, iters = 3000): Float64Array {
  const u = gauss(rows * k, seed);
  const v = gauss(cols * k, seed + 1);
  const step = (x: Float64Array, y: Float64Array, n: number, m: number, at: (i: number, j: number) => number) => {
    for (let i = 0; i < n; i++) {
      const a = new Float64Array(k * k).fill(0);
      const b = new Float64Array(k);
      for (let j = 0; j < m; j++) {
        const [fij, rij] = [f[at(i, j)], r[at(i, j)]];
        for (let p = 0; p < k; p++) {
          b[p] += fij * rij * y[j * k + p];
          for (let q = 0; q < k; q++) a[p * k + q] += fij * y[j * k + p] * y[j * k + q];
        }
      }
      for (let p = 0; p < k; p++) a[p * k + p] += 1e-14;
      x.set(solve(a, b, k), i * k);
    }
  };
  for (let it = 0; it < iters; it++) {
    step(u, v, rows, cols, (i, j) => i * cols + j);
    step(v, u, cols, rows, (j, i) => i * cols + j);
  }
  const l = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) for (let p = 0; p < k; p++) l[i * cols + j] += u[i * k + p] * v[j * k + p];
  return l;
}

describe('weighted low-rank fit (rank-1 importance)', () => {
  for (const [rows, cols, k, seed] of [[6, 5, 1, 1], [7, 9, 2, 2], [10, 8, 3, 3]] as const)
    it(`is the weighted optimum: [${rows}, ${cols}] rank ${k} vs brute-force weighted ALS`, () => {
      const r = gauss(rows * cols, seed * 11);
      const rw = Float64Array.from(gauss(rows, seed * 13), (x) => Math.exp(1.5 * x)); // skewed, as real importances
      const cw = Float64Array.from(gauss(cols, seed * 17), (x) => Math.exp(1.5 * x));
      const f = new Float64Array(rows * cols);
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) f[i * cols + j] = rw[i] * cw[j];
      const heur = objective(r, product(weightedLowRank(r, rows, cols, k, { row: rw, col: cw }), rows, cols), rows, cols, rw, cw);
      const plain = objective(r, product(randomizedSvd(r, rows, cols, k), rows, cols), rows, cols, rw, cw);
      let als = Infinity;
      for (let s = 0; s < 4; s++) als = Math.min(als, objective(r, weightedAls(r, rows, cols, k, f, 100 * seed + s), rows, cols, rw, cw));
      console.log(`[${rows}, ${cols}] rank ${k}: weighted SVD ${heur.toExponential(6)}, brute-force ALS ${als.toExponential(6)}, unweighted SVD ${plain.toExponential(6)}`);
      expect(heur).toBeLessThanOrEqual(als * (1 + 1e-9));
      expect(Math.abs(heur - als) / als).toBeLessThan(1e-6);
      expect(heur).toBeLessThan(plain);
    });

  it('rowColForm sums rows and columns', () => {
    const { row, col } = rowColForm([1, 2, 3, 4, 5, 6], 2, 3);
    expect([...row]).toEqual([6, 15]);
    expect([...col]).toEqual([5, 7, 9]);
  });
});

describe('RTN clip search with per-column weights', () => {
  const rows = 16;
  const cols = 96;
  const w = Float32Array.from(gauss(rows * cols, 5), (x, i) => x * (1 + (i % 7 === 0 ? 4 : 0)));
  const colW = Float64Array.from(gauss(cols, 6), (x) => Math.exp(2 * x));
  it('unit weights are bit-identical to no weights', () => {
    for (const bits of [2, 3, 4] as const) {
      const a = quantizeRtn(w, rows, cols, { bits, groupSize: 32, mse: true });
      const b = quantizeRtn(w, rows, cols, { bits, groupSize: 32, mse: true, weights: new Float64Array(cols).fill(1) });
      expect(b.scale).toEqual(a.scale);
      expect(b.offset).toEqual(a.offset);
      expect(b.codes).toEqual(a.codes);
    }
  });
  it('lowers the weighted error', () => {
    const err = (q: ReturnType<typeof quantizeRtn>) => weightedRelError(Float64Array.from(dequantizeQ(q), (x, i) => w[i] - x), w, rows, cols, { col: colW });
    const plain = err(quantizeRtn(w, rows, cols, { bits: 2, groupSize: 32, mse: true }));
    const weighted = err(quantizeRtn(w, rows, cols, { bits: 2, groupSize: 32, mse: true, weights: colW }));
    console.log(`2-bit g32 weighted rel. error: unweighted clip ${plain.toFixed(5)}, weighted clip ${weighted.toFixed(5)}`);
    expect(weighted).toBeLessThanOrEqual(plain);
    expect(() => quantizeRtn(w, rows, cols, { bits: 2, groupSize: 32, weights: [1, 2] })).toThrow(/importance weights/);
  });
});

describe.skipIf(!f32Path)('weighted LQ-LoRA on a stories260K weight', () => {
  it('lowers the weighted error vs the unweighted split (2-bit, rank 4)', async () => {
    const m = await openModelPath(f32Path!);
    try {
      for (const name of ['model.layers.0.self_attn.q_proj.weight', 'model.layers.2.mlp.down_proj.weight']) {
        const t = m.tensors.get(name)!;
        const [rows, cols] = t.shape;
        const w = await t.readF32();
        const weights = { row: Float64Array.from(gauss(rows, 21), (x) => Math.exp(1.5 * x)), col: Float64Array.from(gauss(cols, 22), (x) => Math.exp(1.5 * x)) };
        const o = { bits: 2 as const, groupSize: 32, rank: 4, rounds: 3, seed: 1 };
        const plain = lqloraInit(w, rows, cols, o, name);
        const weighted = lqloraInit(w, rows, cols, { ...o, weights }, name);
        const werr = (q: typeof plain) => {
          const dq = dequantizeQ(q.q);
          const e = new Float64Array(rows * cols);
          for (let i = 0; i < rows; i++)
            for (let c = 0; c < cols; c++) {
              let l = 0;
              for (let j = 0; j < 4; j++) l += q.b[i * 4 + j] * q.a[j * cols + c];
              e[i * cols + c] = w[i * cols + c] - dq[i * cols + c] - l;
            }
          return weightedRelError(e, w, rows, cols, weights);
        };
        const [pw, ww] = [werr(plain), werr(weighted)];
        console.log(`${name} [${rows}, ${cols}]: weighted rel. error unweighted split ${pw.toFixed(5)}, weighted split ${ww.toFixed(5)} (per round ${weighted.weightedErrors!.map((x) => x.toFixed(5)).join(', ')}); plain rel. error ${plain.errors.at(-1)!.toFixed(5)} vs ${weighted.errors.at(-1)!.toFixed(5)}`);
        expect(ww).toBeCloseTo(weighted.weightedErrors!.at(-1)!, 4);
        expect(ww).toBeLessThan(pw);
      }
    } finally {
      await m.close();
    }
  }, 60_000);
});
