// qlinear backward kernels: GPU against the f64 reference on awkward shapes,
// and the reference against central finite differences of the forward pass
// (L = Σ G ⊙ Y, so dL/dY = G), for dX, dscale, doffset, dA and dB.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { normRelError } from '../../src/gpu/compare.ts';
import { qlinearBackward } from '../../src/gpu/kernels/qlinear.ts';
import { uploadQTensor } from '../../src/gpu/qtensor_gpu.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { type QBits } from '../../src/quant/qtensor.ts';
import { quantizeRtn } from '../../src/quant/quantize/rtn.ts';
import { loraBackwardRef, qlinearBackwardInputRef, qlinearBackwardQuantRef, qlinearForwardRef, type LoraRef } from '../../src/ref/qlinear.ts';

interface Case {
  T: number;
  I: number;
  O: number;
  bits: QBits;
  G: number | 'channel';
  R: number;
}
const cases: Case[] = [
  { T: 1, I: 16, O: 1, bits: 4, G: 16, R: 0 },
  { T: 3, I: 64, O: 5, bits: 2, G: 32, R: 0 },
  { T: 5, I: 96, O: 7, bits: 3, G: 16, R: 2 },
  { T: 9, I: 45, O: 6, bits: 5, G: 'channel', R: 3 },
  { T: 2, I: 256, O: 3, bits: 6, G: 256, R: 1 },
  { T: 7, I: 130, O: 11, bits: 8, G: 'channel', R: 4 },
];

function setup(c: Case) {
  const q = quantizeRtn(randomF32(c.O * c.I, c.I + c.O), c.O, c.I, { bits: c.bits, groupSize: c.G });
  const x = randomF32(c.T * c.I, c.T * 3 + 1);
  const dy = randomF32(c.T * c.O, c.T * 5 + 2);
  const lora: LoraRef | undefined = c.R ? { a: randomF32(c.R * c.I, 21), b: randomF32(c.O * c.R, 22), rank: c.R, scale: 1.5 } : undefined;
  return { q, x, dy, lora };
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

describe('qlinear backward: GPU vs reference', () => {
  for (const c of cases)
    for (const accumulate of [false, true])
      it(`T=${c.T} I=${c.I} O=${c.O} bits=${c.bits} G=${c.G} R=${c.R}${accumulate ? ' accumulate' : ''}`, async () => {
        const ctx = await gpu();
        const { q, x, dy, lora } = setup(c);
        const w = uploadQTensor(ctx, q);
        const tx = GpuTensor.from(ctx, x, [c.T, c.I], 'f32');
        const tdy = GpuTensor.from(ctx, dy, [c.T, c.O], 'f32');
        const init = (n: number, shape: number[], seed: number) => {
          const v = accumulate ? randomF32(n, seed) : new Float32Array(n).fill(NaN);
          return { v, t: GpuTensor.from(ctx, v, shape, 'f32') };
        };
        const NG = q.scale.length / c.O;
        const dx = init(c.T * c.I, [c.T, c.I], 31);
        const ds = init(c.O * NG, [c.O, NG], 32);
        const dm = init(c.O * NG, [c.O, NG], 33);
        const gl = lora && { a: GpuTensor.from(ctx, new Float32Array(lora.a), [c.R, c.I], 'f32'), b: GpuTensor.from(ctx, new Float32Array(lora.b), [c.O, c.R], 'f32'), scale: lora.scale };
        const da = lora && init(c.R * c.I, [c.R, c.I], 34);
        const db = lora && init(c.O * c.R, [c.O, c.R], 35);
        qlinearBackward(ctx, tdy, tx, w, { dx: dx.t, dscale: ds.t, doffset: dm.t, da: da?.t, db: db?.t, accumulate }, gl);
        const want = { dx: qlinearBackwardInputRef(dy, c.T, q, lora), ...qlinearBackwardQuantRef(x, dy, c.T, q), ...(lora ? loraBackwardRef(x, dy, c.T, c.I, c.O, lora) : {}) };
        const pairs: [string, { v: Float32Array; t: GpuTensor<'f32'> } | undefined, Float64Array | undefined][] = [
          ['dx', dx, want.dx],
          ['dscale', ds, want.dscale],
          ['doffset', dm, want.doffset],
          ['da', da, (want as { da?: Float64Array }).da],
          ['db', db, (want as { db?: Float64Array }).db],
        ];
        for (const [name, g, ref] of pairs) {
          if (!g || !ref) continue;
          const got = await g.t.read();
          const expected = accumulate ? ref.map((v, i) => v + g.v[i]) : ref;
          expect(normRelError(got, expected), `${name}`).toBeLessThanOrEqual(2e-5);
        }
        [tx, tdy, dx.t, ds.t, dm.t, da?.t, db?.t, gl?.a, gl?.b].forEach((t) => t?.destroy());
        w.destroy();
      });
});

describe('qlinear backward reference vs finite differences', () => {
  for (const c of cases.filter((c) => c.I * c.O <= 1000)) {
    it(`T=${c.T} I=${c.I} O=${c.O} R=${c.R}`, () => {
      const { q, x, dy, lora } = setup(c);
      const loss = (xx: ArrayLike<number>, p: { scale?: Float64Array; offset?: Float64Array; lora?: LoraRef }) =>
        dot(dy, qlinearForwardRef(xx, c.T, q, p.lora ?? lora, p));
      const h = 1e-4;
      const fd = (n: number, perturb: (i: number, d: number) => number) => {
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) out[i] = (perturb(i, h) - perturb(i, -h)) / (2 * h);
        return out;
      };
      const check = (name: string, analytic: ArrayLike<number>, numeric: Float64Array) =>
        expect(normRelError(analytic, numeric), `${name}: analytic vs finite differences`).toBeLessThanOrEqual(1e-6);
      const x64 = Float64Array.from(x); // perturb in f64: a Float32Array would round x + h
      check('dx', qlinearBackwardInputRef(dy, c.T, q, lora), fd(x.length, (i, d) => loss(x64.map((v, j) => (j === i ? v + d : v)), {})));
      const { dscale, doffset } = qlinearBackwardQuantRef(x, dy, c.T, q);
      const s64 = Float64Array.from(q.scale);
      const m64 = Float64Array.from(q.offset);
      check('dscale', dscale, fd(s64.length, (i, d) => loss(x, { scale: s64.map((v, j) => (j === i ? v + d : v)), offset: m64 })));
      check('doffset', doffset, fd(m64.length, (i, d) => loss(x, { scale: s64, offset: m64.map((v, j) => (j === i ? v + d : v)) })));
      if (lora) {
        const { da, db } = loraBackwardRef(x, dy, c.T, c.I, c.O, lora);
        const a64 = Float64Array.from(lora.a);
        const b64 = Float64Array.from(lora.b);
        check('da', da, fd(a64.length, (i, d) => loss(x, { lora: { ...lora, a: a64.map((v, j) => (j === i ? v + d : v)) } })));
        check('db', db, fd(b64.length, (i, d) => loss(x, { lora: { ...lora, b: b64.map((v, j) => (j === i ? v + d : v)) } })));
      }
    });
  }
});
