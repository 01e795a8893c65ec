// Distillation loss (KL over the teacher's top-K plus a tail bucket, at a
// temperature; also the symmetric KL and JSD over the same buckets): GPU forward (loss, lse, lset) and in-place backward (dz) against
// the f64 reference on awkward shapes — V not a multiple of any workgroup,
// K = V, K = 1, K = 64, one token, masked rows, a row offset and a short last
// chunk, a nearly converged student (teacher − student logits of 0.01); the chunked LM-head loop against the whole batch; the reference's
// gradient against central finite differences; K = V equal to the full KL and
// K < V below it.
import { afterAll, describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { compareArrays, normRelError } from '../../src/gpu/compare.ts';
import { destroyTeacher, distillBackward, distillChunked, distillForward, packTeacherRows, uploadTeacher } from '../../src/gpu/kernels/distill.ts';
import type { LmHead } from '../../src/gpu/kernels/cross_entropy.ts';
import { matmul } from '../../src/gpu/kernels/matmul.ts';
import { matmulT } from '../../src/gpu/kernels/matmul_strided.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { DIVERGENCES, distillBackwardRef, distillForwardRef, fullKlRef, teacherTopKRef, type DistillTeacherRows } from '../../src/ref/distill.ts';

const worst: Record<string, { rel: number; abs: number }> = {};
afterAll(() => console.log(`distill: worst errors (rel-to-max, max abs) ${JSON.stringify(worst)}`));

function check(kind: string, label: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  const err = normRelError(got, want);
  const s = compareArrays(got, want);
  const w = (worst[kind] ??= { rel: 0, abs: 0 });
  w.rel = Math.max(w.rel, err);
  w.abs = Math.max(w.abs, s.maxAbs);
  console.log(`${label} ${kind}: rel-to-max ${err.toExponential(2)}, max abs ${s.maxAbs.toExponential(2)}, max rel ${s.maxRel.toExponential(2)}`);
  expect(err, `${label} ${kind}: rel-to-max ${err.toExponential(2)}, max abs ${s.maxAbs.toExponential(2)} at ${s.worst} (got ${got[s.worst]}, want ${want[s.worst]})`).toBeLessThanOrEqual(tol);
}

/** Teacher logits near the student's (a distillation in progress) with every 4th row masked. */
function problem(N: number, V: number, K: number, tau: number, seed: number, gap = 3) {
  const zs = randomF32(N * V, seed).map((x) => 6 * x);
  const zt = Float64Array.from(zs, (x, i) => x + gap * Math.sin(i * 0.37 + seed));
  const teacher = teacherTopKRef(zt, N, V, K, tau);
  const mask = new Uint32Array(N).map((_, n) => (n % 4 === 1 ? 0 : 1));
  return { zs, zt, teacher, mask };
}

interface Case {
  V: number;
  K: number;
  N: number;
  R: number;
  row0: number;
  rows: number;
  tau: number;
  /** Teacher − student logit scale: 3 early in a distillation, 0.01 near its end (p ≈ q, where jsd cancels). */
  gap?: number;
}
const CASES: Case[] = [
  { V: 7, K: 7, N: 6, R: 6, row0: 0, rows: 6, tau: 1 }, // K = V: no tail
  { V: 300, K: 1, N: 1, R: 1, row0: 0, rows: 1, tau: 1 }, // one token, top-1
  { V: 513, K: 64, N: 40, R: 16, row0: 24, rows: 13, tau: 2 }, // short last chunk, τ = 2
  { V: 512, K: 512, N: 9, R: 5, row0: 4, rows: 5, tau: 0.7 }, // K = V on a round vocabulary
  { V: 32000, K: 64, N: 5, R: 3, row0: 1, rows: 3, tau: 1 },
  { V: 1000, K: 100, N: 8, R: 8, row0: 0, rows: 8, tau: 1, gap: 0.01 }, // nearly converged
];

describe('distillation kernels: GPU vs reference', () => {
  for (const div of DIVERGENCES)
  for (const c of CASES)
    it(`${div} V=${c.V} K=${c.K} τ=${c.tau} rows ${c.row0}..${c.row0 + c.rows - 1} of N=${c.N} in an R=${c.R} buffer`, async () => {
      const ctx = await gpu();
      const { zs, teacher, mask } = problem(c.N, c.V, c.K, c.tau, c.V + c.K, c.gap);
      const z = new Float32Array(c.R * c.V);
      z.set(zs.subarray(c.row0 * c.V, (c.row0 + Math.min(c.R, c.N - c.row0)) * c.V));
      for (let v = 0; v < c.V; v++) z[v] += 90; // exp overflows f32 unless the max is taken out
      const rows = packTeacherRows(teacher.ids, teacher.logp, teacher.tail, (n) => mask[n] !== 0, c.N, c.K, c.V);
      const t = uploadTeacher(ctx, rows, c.N, c.V);
      const tz = GpuTensor.from(ctx, z, [c.R, c.V], 'f32');
      const tloss = GpuTensor.from(ctx, new Float32Array(c.N).fill(NaN), [c.N], 'f32');
      const tstat = GpuTensor.from(ctx, new Float32Array(8 * c.N).fill(NaN), [c.N, 8], 'f32');
      distillForward(ctx, tloss, tstat, tz, t, { tau: c.tau, divergence: div, row0: c.row0, rows: c.rows });
      distillBackward(ctx, tz, tstat, t, { tau: c.tau, divergence: div, row0: c.row0, rows: c.rows, gradScale: 0.3 });
      // The reference sees the f32 teacher values the GPU sees.
      const sl = <T extends ArrayLike<number>>(a: T, w = 1) => Array.from(a).slice(c.row0 * w, (c.row0 + c.rows) * w);
      const tr: DistillTeacherRows = { K: c.K, ids: sl(rows.ids, c.K), logp: sl(rows.logp, c.K), tail: sl(teacher.tail).map(Math.fround) };
      const used = z.slice(0, c.rows * c.V);
      const ref = distillForwardRef(used, c.rows, c.V, tr, sl(mask), c.tau, div);
      const label = `${div} V=${c.V} K=${c.K}${c.gap ? ` gap ${c.gap}` : ''}`;
      const loss = await tloss.read();
      if (c.gap && div === 'kl') {
        // Nearly converged, KL(p ‖ q) is far below one f32 ulp of log Σ exp (≈ 5e-7 at log L ≈ 7), which every
        // term shares: its absolute error, not its relative one, is what f32 can bound (skl's reverse KL
        // shares that normaliser with the opposite sign, and jsd has none: both stay within 1e-5 relative).
        const abs = compareArrays(sl(loss), ref.loss).maxAbs;
        console.log(`${label} loss: max abs ${abs.toExponential(2)} (of ${Math.max(...ref.loss).toExponential(2)})`);
        expect(abs).toBeLessThanOrEqual(1e-6);
      } else check('loss', label, sl(loss), ref.loss, 1e-5);
      const stat = await tstat.read();
      check('lse', label, sl(stat, 8).filter((_, i) => i % 8 === 6), ref.lse, 1e-5);
      if (c.K < c.V) check('lset', label, sl(stat, 8).filter((_, i) => i % 8 === 7), ref.lset, 1e-5);
      expect(loss.every((x, n) => (n >= c.row0 && n < c.row0 + c.rows) !== Number.isNaN(x)), 'rows outside the chunk untouched').toBe(true);
      const dz = new Float64Array(c.R * c.V); // rows ≥ rows must come back zeroed
      dz.set(distillBackwardRef(used, c.rows, c.V, tr, sl(mask), c.tau, 0.3, div));
      check('dz', label, await tz.read(), dz, 1e-4);
      destroyTeacher(t);
      [tz, tloss, tstat].forEach((x) => x.destroy());
    });

  it('refuses bad teachers and chunks that do not fit', async () => {
    const ctx = await gpu();
    expect(() => packTeacherRows([1, 1], [0, 0], [0], () => true, 1, 2, 4)).toThrow(/twice/);
    expect(() => packTeacherRows([4], [0], [0], () => true, 1, 1, 4)).toThrow(/outside the vocabulary/);
    expect(() => packTeacherRows([0], [0], [0], () => true, 1, 5, 4)).toThrow(/top-K/);
    const t = uploadTeacher(ctx, packTeacherRows([0, 1, 2, 3], [0, 0, 0, 0], [0, 0, 0, 0], () => true, 4, 1, 10), 4, 10);
    const z = GpuTensor.empty(ctx, [3, 10], 'f32');
    const f = GpuTensor.empty(ctx, [4], 'f32');
    const s = GpuTensor.empty(ctx, [4, 8], 'f32');
    expect(() => distillForward(ctx, f, s, z, t, { tau: 1, row0: 2, rows: 3 })).toThrow(/do not fit/);
    expect(() => distillForward(ctx, f, s, z, t, { tau: 0 })).toThrow(/temperature/);
    expect(() => distillForward(ctx, f, s, GpuTensor.empty(ctx, [3, 64], 'f32'), t, { tau: 1 })).toThrow(/another vocabulary/);
    expect(() => distillBackward(ctx, z, s, t, { tau: 1, gradScale: Infinity })).toThrow(/not finite/);
    expect(() => distillForward(ctx, f, s, GpuTensor.empty(ctx, [4, 10], 'f32'), t, { tau: 1, divergence: 'tv' as never })).toThrow(/divergence tv/);
    destroyTeacher(t);
  });
});

describe('distillChunked: LM head in chunks vs the whole batch at once', () => {
  for (const [V, K, chunk, div] of [
    [512, 64, 5, 'kl'],
    [1000, 1000, 6, 'kl'],
    [512, 64, 5, 'jsd'],
    [300, 7, 4, 'skl'],
  ] as const)
    it(`${div} N=13 C=16 V=${V} K=${K} chunk=${chunk}`, async () => {
      const ctx = await gpu();
      const [N, C, tau] = [13, 16, 1.5];
      const hs = randomF32(N * C, 1);
      const ws = randomF32(V * C, 2).map((x) => 4 * x);
      const zs = new Float64Array(N * V);
      for (let n = 0; n < N; n++) for (let v = 0; v < V; v++) for (let c = 0; c < C; c++) zs[n * V + v] += hs[n * C + c] * ws[v * C + c];
      const teacher = teacherTopKRef(zs.map((x, i) => x + Math.cos(i)), N, V, K, tau);
      const mask = new Uint32Array(N).map((_, n) => (n % 4 === 1 ? 0 : 1));
      const rows = packTeacherRows(teacher.ids, teacher.logp, teacher.tail, (n) => mask[n] !== 0, N, K, V);
      const tr = { ...teacher, logp: rows.logp, tail: Array.from(teacher.tail, Math.fround) };
      const ref = distillForwardRef(zs, N, V, tr, mask, tau, div);
      const dz = distillBackwardRef(zs, N, V, tr, mask, tau, 1 / ref.count, div);
      const dhRef = new Float64Array(N * C);
      const dwRef = new Float64Array(V * C);
      for (let n = 0; n < N; n++)
        for (let v = 0; v < V; v++)
          for (let c = 0; c < C; c++) {
            dhRef[n * C + c] += dz[n * V + v] * ws[v * C + c];
            dwRef[v * C + c] += dz[n * V + v] * hs[n * C + c];
          }
      const t = uploadTeacher(ctx, rows, N, V);
      const hidden = GpuTensor.from(ctx, hs, [N, C], 'f32');
      const w = GpuTensor.from(ctx, ws, [V, C], 'f32');
      const dw = GpuTensor.from(ctx, new Float32Array(V * C), [V, C], 'f32');
      const head: LmHead = {
        vocab: V,
        forward: (enc, logits, h) => matmul(ctx, logits, h, w, { encoder: enc }),
        backward: (enc, dh, dzT, h) => {
          matmulT(ctx, 'nn', dh, dzT, w, { encoder: enc });
          matmulT(ctx, 'tn', dw, dzT, h, { beta: 1, encoder: enc });
        },
      };
      const loss = GpuTensor.empty(ctx, [N], 'f32');
      const dhidden = GpuTensor.from(ctx, new Float32Array(N * C).fill(NaN), [N, C], 'f32');
      distillChunked(ctx, hidden, head, t, chunk, { tau, divergence: div, loss, dhidden, gradScale: 1 / ref.count });
      const label = `${div} V=${V} K=${K}`;
      check('chunked loss', label, await loss.read(), ref.loss, 1e-5);
      check('chunked dh', label, await dhidden.read(), dhRef, 1e-4);
      check('chunked dW', label, await dw.read(), dwRef, 1e-4);
      destroyTeacher(t);
      [hidden, w, dw, loss, dhidden].forEach((x) => x.destroy());
    });
});

describe('distillation reference', () => {
  for (const div of DIVERGENCES)
  for (const [N, V, K, tau] of [
    [5, 7, 3, 1],
    [3, 40, 40, 2],
    [4, 97, 8, 0.5],
    [3, 9, 1, 1],
  ])
    it(`${div} gradient = central finite differences (N=${N} V=${V} K=${K} τ=${tau})`, () => {
      const { zs, teacher, mask } = problem(N, V, K, tau, 11);
      const z = Float64Array.from(zs);
      const { count } = distillForwardRef(z, N, V, teacher, mask, tau, div);
      const dz = distillBackwardRef(z, N, V, teacher, mask, tau, 1 / count, div);
      const h = 1e-5;
      const fd = new Float64Array(N * V);
      for (let i = 0; i < fd.length; i++) {
        const at = (d: number) => distillForwardRef(z.map((x, j) => (j === i ? x + d : x)), N, V, teacher, mask, tau, div).mean;
        fd[i] = (at(h) - at(-h)) / (2 * h);
      }
      const err = normRelError(dz, fd);
      console.log(`${div} finite differences N=${N} V=${V} K=${K} τ=${tau}: rel-to-max ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(1e-6);
    });

  it('K = V is the full KL; K < V never exceeds it and is zero when the student is the teacher', () => {
    const [N, V] = [6, 50];
    const { zs, zt, mask } = problem(N, V, V, 1, 5);
    const all = new Uint32Array(N).fill(1);
    const full = fullKlRef(zt, zs, N, V);
    const exact = distillForwardRef(zs, N, V, teacherTopKRef(zt, N, V, V, 1), all, 1).loss;
    expect(normRelError(exact, full)).toBeLessThanOrEqual(1e-12);
    const top8 = distillForwardRef(zs, N, V, teacherTopKRef(zt, N, V, 8, 1), all, 1).loss;
    for (let n = 0; n < N; n++) expect(top8[n]).toBeLessThanOrEqual(full[n] + 1e-12);
    expect(top8.some((x, n) => x < full[n] - 1e-6), 'the bucket loses something at K < V').toBe(true);
    const self = distillForwardRef(zt, N, V, teacherTopKRef(zt, N, V, 8, 1), mask, 1);
    for (const x of self.loss) expect(Math.abs(x)).toBeLessThanOrEqual(1e-12);
  });

  it('K = V: skl is KL(p ‖ q) + KL(q ‖ p) and jsd the full JSD; both 0 when the student is the teacher; a teacher tail of 0 stays finite', () => {
    const [N, V] = [5, 30];
    const { zs, zt } = problem(N, V, V, 1, 8);
    const all = new Uint32Array(N).fill(1);
    const t = teacherTopKRef(zt, N, V, V, 1);
    const skl = distillForwardRef(zs, N, V, t, all, 1, 'skl').loss;
    const sym = fullKlRef(zt, zs, N, V).map((x, n) => x + fullKlRef(zs, zt, N, V)[n]);
    expect(normRelError(skl, sym)).toBeLessThanOrEqual(1e-12);
    const jsd = distillForwardRef(zs, N, V, t, all, 1, 'jsd').loss;
    for (let n = 0; n < N; n++) {
      const soft = (z: ArrayLike<number>) => {
        const row = Array.from({ length: V }, (_, v) => z[n * V + v]);
        const m = Math.max(...row);
        const e = row.map((x) => Math.exp(x - m));
        const sum = e.reduce((a, b) => a + b, 0);
        return e.map((x) => x / sum);
      };
      const [p, q] = [soft(zt), soft(zs)];
      let want = 0;
      for (let v = 0; v < V; v++) {
        const m = (p[v] + q[v]) / 2;
        want += 0.5 * p[v] * Math.log(p[v] / m) + 0.5 * q[v] * Math.log(q[v] / m);
      }
      expect(Math.abs(jsd[n] - want)).toBeLessThanOrEqual(1e-12);
    }
    for (const div of ['skl', 'jsd'] as const) {
      const self = distillForwardRef(zt, N, V, teacherTopKRef(zt, N, V, 8, 1), all, 1, div);
      for (const x of self.loss) expect(Math.abs(x)).toBeLessThanOrEqual(1e-12);
      const t8 = teacherTopKRef(zt, N, V, 8, 1);
      const noTail = { ...t8, tail: new Float64Array(N) };
      const r = distillForwardRef(zs, N, V, noTail, all, 1, div);
      expect(r.loss.every(Number.isFinite) && distillBackwardRef(zs, N, V, noTail, all, 1, 1, div).every(Number.isFinite)).toBe(true);
    }
  });
});
