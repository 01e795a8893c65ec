// Masked cross-entropy: GPU forward (loss, lse) and in-place backward (dz)
// against the f64 reference for V = 7 … 128256 with masked rows, ignore
// indices, a row offset and a short last chunk; the chunked LM-head loop
// against the whole-batch reference; the reference backward against central
// finite differences of the mean loss.
import { afterAll, describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { compareArrays, normRelError } from '../../src/gpu/compare.ts';
import { crossEntropyBackward, crossEntropyChunked, crossEntropyForward, type LmHead } from '../../src/gpu/kernels/cross_entropy.ts';
import { matmul } from '../../src/gpu/kernels/matmul.ts';
import { matmulT } from '../../src/gpu/kernels/matmul_strided.ts';
import { randomF32, rng } from '../../src/gpu/random.ts';
import { crossEntropyBackwardRef, crossEntropyForwardRef, lmHeadCrossEntropyRef } from '../../src/ref/cross_entropy.ts';

const IGNORE = 0xffffffff; // −1 as u32
const worst: Record<string, number> = {};
afterAll(() => console.log(`cross-entropy: worst max-magnitude-relative errors ${JSON.stringify(worst)}`));

function check(kind: string, label: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  const err = normRelError(got, want);
  worst[kind] = Math.max(worst[kind] ?? 0, err);
  const s = compareArrays(got, want);
  expect(err, `${label} ${kind}: rel-to-max ${err.toExponential(2)}, max abs ${s.maxAbs.toExponential(2)}, max rel ${s.maxRel.toExponential(2)} at ${s.worst} (got ${got[s.worst]}, want ${want[s.worst]})`).toBeLessThanOrEqual(tol);
}

/** Targets with an ignore index every 5th row and a mask that drops every 4th row. */
function tokens(N: number, V: number, seed: number) {
  const r = rng(seed);
  const targets = new Uint32Array(N).map((_, n) => (n % 5 === 3 ? IGNORE : Math.floor(r() * V)));
  const mask = new Uint32Array(N).map((_, n) => (n % 4 === 1 ? 0 : 1));
  return { targets, mask };
}

interface Case {
  V: number;
  /** Tokens in the batch. */
  N: number;
  /** Rows of the logits buffer (chunk capacity). */
  R: number;
  row0: number;
  rows: number;
}
const CASES: Case[] = [
  { V: 7, N: 6, R: 6, row0: 0, rows: 6 },
  { V: 512, N: 40, R: 16, row0: 24, rows: 13 },
  { V: 32000, N: 9, R: 5, row0: 4, rows: 5 },
  { V: 128256, N: 4, R: 3, row0: 1, rows: 2 },
];

describe('cross-entropy kernels: GPU vs reference', () => {
  for (const c of CASES)
    it(`V=${c.V} rows ${c.row0}..${c.row0 + c.rows - 1} of N=${c.N} in an R=${c.R} buffer`, async () => {
      const ctx = await gpu();
      const z = randomF32(c.R * c.V, c.V + c.row0).map((x) => 8 * x);
      for (let v = 0; v < c.V; v++) z[v] += 90; // exp(z) overflows f32 unless the max is taken out
      const { targets, mask } = tokens(c.N, c.V, c.V);
      const tz = GpuTensor.from(ctx, z, [c.R, c.V], 'f32');
      const tt = GpuTensor.from(ctx, targets, [c.N], 'u32');
      const tm = GpuTensor.from(ctx, mask, [c.N], 'u32');
      const tloss = GpuTensor.from(ctx, new Float32Array(c.N).fill(NaN), [c.N], 'f32');
      const tlse = GpuTensor.from(ctx, new Float32Array(c.N).fill(NaN), [c.N], 'f32');
      crossEntropyForward(ctx, tloss, tlse, tz, tt, tm, { row0: c.row0, rows: c.rows });
      crossEntropyBackward(ctx, tz, tlse, tt, tm, { row0: c.row0, rows: c.rows, gradScale: 0.3 });
      const sl = (a: ArrayLike<number>) => Array.from(a).slice(c.row0, c.row0 + c.rows);
      const used = z.slice(0, c.rows * c.V);
      const ref = crossEntropyForwardRef(used, c.rows, c.V, sl(targets), sl(mask));
      const label = `V=${c.V}`;
      const loss = await tloss.read();
      check('loss', label, sl(loss), ref.loss, 1e-5);
      check('lse', label, sl(await tlse.read()), ref.lse, 1e-5);
      expect(loss.every((x, n) => (n >= c.row0 && n < c.row0 + c.rows) !== Number.isNaN(x)), 'rows outside the chunk untouched').toBe(true);
      const dz = new Float64Array(c.R * c.V); // rows ≥ rows must come back zeroed
      dz.set(crossEntropyBackwardRef(used, c.rows, c.V, sl(targets), sl(mask), 0.3));
      check('dz', label, await tz.read(), dz, 1e-4);
      [tz, tt, tm, tloss, tlse].forEach((t) => t.destroy());
    });

  it('rejects chunks that do not fit', async () => {
    const ctx = await gpu();
    const z = GpuTensor.empty(ctx, [4, 10], 'f32');
    const u = GpuTensor.empty(ctx, [6], 'u32');
    const f = GpuTensor.empty(ctx, [6], 'f32');
    expect(() => crossEntropyForward(ctx, f, f, z, u, u, { row0: 3, rows: 4 })).toThrow(/do not fit/);
    expect(() => crossEntropyForward(ctx, f, f, z, u, u, { rows: 5 })).toThrow(/do not fit/);
    expect(() => crossEntropyForward(ctx, f, GpuTensor.empty(ctx, [5], 'f32'), z, u, u)).toThrow(/\[N\]/);
    expect(() => crossEntropyBackward(ctx, z, f, u, u, { gradScale: Infinity })).toThrow(/not finite/);
  });
});

describe('crossEntropyChunked: LM head in chunks vs the whole batch at once', () => {
  for (const [V, chunk] of [
    [512, 5],
    [32000, 6],
  ])
    it(`N=13 C=16 V=${V} chunk=${chunk}`, async () => {
      const ctx = await gpu();
      const N = 13;
      const C = 16;
      const hs = randomF32(N * C, 1);
      const ws = randomF32(V * C, 2);
      const { targets, mask } = tokens(N, V, 3);
      const ref = lmHeadCrossEntropyRef(hs, ws, N, C, V, targets, mask);
      const hidden = GpuTensor.from(ctx, hs, [N, C], 'f32');
      const w = GpuTensor.from(ctx, ws, [V, C], 'f32');
      const dw = GpuTensor.from(ctx, new Float32Array(V * C), [V, C], 'f32');
      const head: LmHead = {
        vocab: V,
        forward: (enc, logits, h) => matmul(ctx, logits, h, w, { encoder: enc }),
        backward: (enc, dh, dz, h) => {
          matmulT(ctx, 'nn', dh, dz, w, { encoder: enc }); // dh = dz·W
          matmulT(ctx, 'tn', dw, dz, h, { beta: 1, encoder: enc }); // dW += dzᵀ·h
        },
      };
      const loss = GpuTensor.empty(ctx, [N], 'f32');
      const dhidden = GpuTensor.from(ctx, new Float32Array(N * C).fill(NaN), [N, C], 'f32');
      const tt = GpuTensor.from(ctx, targets, [N], 'u32');
      const tm = GpuTensor.from(ctx, mask, [N], 'u32');
      crossEntropyChunked(ctx, hidden, head, tt, tm, chunk, { loss, dhidden, gradScale: 1 / ref.count });
      const got = await loss.read();
      check('chunked loss', `V=${V}`, got, ref.loss, 1e-5);
      expect(Math.abs(got.reduce((a, b) => a + b, 0) / ref.count - ref.mean) / ref.mean).toBeLessThanOrEqual(1e-5);
      check('chunked dh', `V=${V}`, await dhidden.read(), ref.dh, 1e-4);
      check('chunked dW', `V=${V}`, await dw.read(), ref.dw, 1e-4);
      [hidden, w, dw, loss, dhidden, tt, tm].forEach((t) => t.destroy());
    });
});

describe('cross-entropy reference vs finite differences', () => {
  for (const [N, V] of [
    [6, 7],
    [3, 512],
  ])
    it(`N=${N} V=${V}`, () => {
      const z = Float64Array.from(randomF32(N * V, V), (x) => 4 * x);
      const { targets, mask } = tokens(N, V, 9);
      const { count } = crossEntropyForwardRef(z, N, V, targets, mask);
      expect(count).toBeGreaterThan(0);
      const dz = crossEntropyBackwardRef(z, N, V, targets, mask, 1 / count);
      const h = 1e-5;
      const fd = new Float64Array(N * V);
      for (let i = 0; i < fd.length; i++) {
        const at = (d: number) => crossEntropyForwardRef(z.map((x, j) => (j === i ? x + d : x)), N, V, targets, mask).mean;
        fd[i] = (at(h) - at(-h)) / (2 * h);
      }
      expect(normRelError(dz, fd)).toBeLessThanOrEqual(1e-7);
    });
});
