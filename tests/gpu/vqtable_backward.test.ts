// Training a learned codebook with the indices frozen: vqlinear_backward_table.wgsl
// (through vqTableBackward, src/gpu/kernels/vqtable.ts) against the f64 scatter of
// src/ref/vq_table_grad.ts on random unsigned VqTensors of every vector length
// and index width (16-bit: 40000 entries, most unused), awkward shapes (T = 1,
// O = 1, rows whose last vector is partial, groups of 16 inside a row), with and
// without accumulation; the reference against finite differences of the output;
// the inverted index against a direct count; a signed tensor refused.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { compareArrays, normRelError } from '../../src/gpu/compare.ts';
import { uploadVqTensor } from '../../src/gpu/vq_gpu.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { tableUses, uploadTableUses, vqTableBackward } from '../../src/gpu/kernels/vqtable.ts';
import { getIndex } from '../../src/quant/vq/vqtensor.ts';
import { vqForwardWithTableRef, vqTableGradRef } from '../../src/ref/vq_table_grad.ts';
import { randomVq, vqCaseName, type VqCase } from '../helpers/vq_case.ts';

const cases: VqCase[] = [];
for (const dim of [1, 2, 4, 8] as const) for (const bits of [2, 4, 8, 16] as const) cases.push({ T: 3, I: 64, O: 5, dim, bits, signed: false, G: 32, learned: true });
cases.push({ T: 1, I: 32, O: 1, dim: 8, bits: 8, signed: false, G: 'channel', learned: true });
cases.push({ T: 13, I: 100, O: 10, dim: 8, bits: 4, signed: false, G: 'channel', learned: true }); // last vector of each row: 4 of 8 weights
cases.push({ T: 17, I: 172, O: 7, dim: 4, bits: 8, signed: false, G: 'channel', learned: true }); // stories260K's down_proj width
cases.push({ T: 9, I: 96, O: 37, dim: 2, bits: 8, signed: false, G: 16, learned: true });
cases.push({ T: 40, I: 128, O: 3, dim: 4, bits: 16, signed: false, G: 64, learned: true });

async function runCase(c: VqCase, accumulate: boolean, label: string) {
  const ctx = await gpu();
  const q = randomVq(c, c.I * 5 + c.O * 11 + c.dim + c.bits);
  const w = uploadVqTensor(ctx, q, 'vq');
  const u = uploadTableUses(ctx, tableUses(q));
  const { T, I, O } = c;
  const xs = randomF32(T * I, T + 7);
  const dys = randomF32(T * O, T + 8);
  const x = GpuTensor.from(ctx, xs, [T, I], 'f32');
  const dy = GpuTensor.from(ctx, dys, [T, O], 'f32');
  const dw = GpuTensor.empty(ctx, [O, I], 'f32');
  const n = w.vq!.table.size;
  const init = accumulate ? randomF32(n, 41) : new Float32Array(n).fill(NaN);
  const dtable = GpuTensor.from(ctx, init, [n], 'f32');
  vqTableBackward(ctx, dy, x, w, u, dw, dtable, { accumulate });
  const got = (await dtable.read()).subarray(0, q.codebook.values.length);
  const ref = vqTableGradRef(xs, dys, T, q);
  const want = accumulate ? ref.map((v, i) => v + init[i]) : ref;
  const s = compareArrays(got, want);
  const rel = normRelError(got, want);
  console.log(`${label}: max abs ${s.maxAbs.toExponential(2)}, max rel ${rel.toExponential(2)}`);
  expect(rel, `${label}: worst ${s.worst}: got ${got[s.worst]} want ${want[s.worst]}`).toBeLessThanOrEqual(1e-4);
  [x, dy, dw, dtable, u].forEach((t) => t.destroy());
  w.destroy();
}

describe('vqlinear_backward_table vs the f64 scatter', () => {
  for (const c of cases) it(vqCaseName(c), () => runCase(c, false, vqCaseName(c)));
  it('accumulate (beta = 1)', () => runCase({ T: 13, I: 96, O: 10, dim: 4, bits: 8, signed: false, G: 32, learned: true }, true, 'accumulate'));
  it('refuses a signed tensor', async () => {
    const ctx = await gpu();
    const q = randomVq({ I: 32, O: 2, dim: 8, bits: 8, signed: true, G: 'channel', learned: true }, 3);
    const w = uploadVqTensor(ctx, q, 'vq');
    const u = uploadTableUses(ctx, tableUses(q));
    const t = (shape: number[]) => GpuTensor.empty(ctx, shape, 'f32');
    expect(() => vqTableBackward(ctx, t([1, 2]), t([1, 32]), w, u, t([2, 32]), t([w.vq!.table.size]))).toThrow(/signed/);
    w.destroy();
    u.destroy();
  });
});

describe('inverted index', () => {
  it('lists every vector of the rows once, under its own index', () => {
    const q = randomVq({ I: 100, O: 9, dim: 8, bits: 4, signed: false, G: 'channel', learned: true }, 5);
    const u = tableUses(q);
    const vectors = Math.ceil(100 / 8);
    expect(u.start[u.size]).toBe(9 * vectors);
    const seen = new Set<number>();
    for (let c = 0; c < u.size; c++)
      for (let i = u.start[c]; i < u.start[c + 1]; i++) {
        const o = Math.floor(u.uses[i] / u.vpr);
        const v = u.uses[i] % u.vpr;
        expect(getIndex(q, o, v)).toBe(c);
        seen.add(u.uses[i]);
      }
    expect(seen.size).toBe(9 * vectors);
  });
});

describe('table gradient reference vs finite differences', () => {
  for (const c of [cases[2], cases[5], cases[cases.length - 3], cases[cases.length - 2]])
    it(vqCaseName(c), () => {
      const q = randomVq(c, 77);
      const x = Array.from(randomF32(c.T * c.I, 1));
      const dy = Array.from(randomF32(c.T * c.O, 2));
      const table = Float64Array.from(q.codebook.values);
      const loss = (tb: ArrayLike<number>) => vqForwardWithTableRef(x, c.T, q, tb).reduce((s, y, i) => s + y * dy[i], 0);
      const g = vqTableGradRef(x, dy, c.T, q);
      const h = 1e-4;
      // Every entry of small tables; a sample of the used ones (and some unused) of large ones.
      const probe = Array.from({ length: Math.min(table.length, 64) }, (_, i) => (table.length <= 64 ? i : (i * 7919 + (i % 2 ? getIndex(q, i % c.O, 0) * c.dim : 0)) % table.length));
      let num = 0;
      let den = 0;
      for (const i of probe) {
        const tp = table.slice();
        const tm = table.slice();
        tp[i] += h;
        tm[i] -= h;
        const fd = (loss(tp) - loss(tm)) / (2 * h);
        num = Math.max(num, Math.abs(fd - g[i]));
        den = Math.max(den, Math.abs(fd));
      }
      console.log(`fd ${vqCaseName(c)}: max abs ${num.toExponential(2)} over ${probe.length} entries (max |g| ${den.toExponential(2)})`);
      expect(den).toBeGreaterThan(0);
      expect(num / den).toBeLessThanOrEqual(1e-6);
    });
});
