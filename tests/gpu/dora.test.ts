// DoRA (src/model/dora.ts, src/gpu/kernels/dora.ts, dora_*.wgsl) against the
// f64 references of src/ref/dora.ts, on a scalar-quantized base (RTN), a
// codebook base (random VqTensor, learned table) and a dense f32 base, at
// awkward shapes (rows and columns not multiples of 64 or 4, rank 1, T = 1):
// ‖W_o‖² from the identity forward, the split norm, the forward (≤ 1e-5
// relative), the gradients of m, A, B and x (≤ 1e-4), the magnitude start
// (m/n = 1), accumulation over micro-batches; the reference's gradients
// against central finite differences of its forward with the norm held fixed
// (PEFT detaches it); the f16 forward on a device that has shader-f16.
import { describe, expect, it } from 'vitest';
import { f16Device, gpu } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/close.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { submit } from '../../src/gpu/pipelines.ts';
import { uploadQTensor } from '../../src/gpu/qtensor_gpu.ts';
import { uploadVqTensor } from '../../src/gpu/vq_gpu.ts';
import { quantizeRtn } from '../../src/quant/quantize/rtn.ts';
import { dequantizeQ } from '../../src/quant/qtensor.ts';
import { dequantizeVq } from '../../src/quant/vq/vqtensor.ts';
import { linearForward, type GpuLinear } from '../../src/model/linear.ts';
import { linearBackward } from '../../src/model/linear_backward.ts';
import { doraNorms, rowSumSquares, type DoraTrain } from '../../src/model/dora.ts';
import { Recorder } from '../../src/model/recorder.ts';
import { doraBackwardRef, doraForwardRef, doraNormRef, doraNormSplitRef, type DoraRefArgs } from '../../src/ref/dora.ts';
import { randomVq } from '../helpers/vq_case.ts';

type Base = 'scalar' | 'vq' | 'dense';
interface Case { base: Base; T: number; I: number; O: number; R: number }
const cases: Case[] = [
  { base: 'scalar', T: 1, I: 32, O: 1, R: 1 },
  { base: 'scalar', T: 13, I: 96, O: 70, R: 3 },
  { base: 'scalar', T: 5, I: 36, O: 67, R: 1 }, // I % 4 ≠ 0: the scalar kernel
  { base: 'vq', T: 9, I: 64, O: 37, R: 2 },
  { base: 'vq', T: 1, I: 96, O: 65, R: 1 },
  { base: 'dense', T: 7, I: 20, O: 11, R: 4 },
];
const name = (c: Case) => `${c.base} T=${c.T} I=${c.I} O=${c.O} R=${c.R}`;

function makeBase(ctx: GpuContext, c: Case): { lin: GpuLinear; w: Float32Array } {
  const wf = randomF32(c.O * c.I, c.I * 31 + c.O);
  if (c.base === 'scalar') {
    const q = quantizeRtn(wf, c.O, c.I, { bits: 3, groupSize: c.I % 32 === 0 ? 32 : c.I });
    return { lin: { kind: 'quant', rows: c.O, cols: c.I, w: uploadQTensor(ctx, q, 'w'), bias: null, type: 'q3', ggmlType: null, q }, w: dequantizeQ(q) };
  }
  if (c.base === 'vq') {
    const q = randomVq({ I: c.I, O: c.O, dim: 4, bits: 8, signed: false, G: 'channel', learned: true }, c.O + c.I);
    return { lin: { kind: 'quant', rows: c.O, cols: c.I, w: uploadVqTensor(ctx, q, 'w'), bias: null, type: 'vq', ggmlType: null }, w: dequantizeVq(q) };
  }
  return { lin: { kind: 'dense', rows: c.O, cols: c.I, w: GpuTensor.from(ctx, wf, [c.O, c.I], 'f32'), bias: null, type: 'F32' }, w: wf };
}

/** A random DoRA layer on the case's base, with m away from n so the scale matters. */
function setup(ctx: GpuContext, c: Case) {
  const { lin, w } = makeBase(ctx, c);
  const a = randomF32(c.R * c.I, 11 + c.R);
  const b = randomF32(c.O * c.R, 12 + c.O).map((v) => v * 0.5);
  const m = randomF32(c.O, 13).map((v) => 1 + Math.abs(v));
  const p: DoraRefArgs = { w, a, b, m, scale: 2 / c.R, O: c.O, I: c.I, R: c.R };
  const t = (d: Float32Array, shape: number[]) => GpuTensor.from(ctx, d, shape, 'f32');
  const lora = { a: t(a, [c.R, c.I]), b: t(b, [c.O, c.R]), scale: p.scale };
  const vec = () => GpuTensor.empty(ctx, [c.O], 'f32');
  const dora: DoraTrain = { m: t(m, [c.O]), dm: vec(), n: vec(), wsq: vec() };
  const train = { lora: { lora: { ...lora, dora: { m: dora.m, n: dora.n } }, da: GpuTensor.empty(ctx, [c.R, c.I], 'f32'), db: GpuTensor.empty(ctx, [c.O, c.R], 'f32') }, dora };
  rowSumSquares(ctx, lin, dora.wsq);
  const enc = ctx.device.createCommandEncoder();
  doraNorms(ctx, enc, lin, lora, dora);
  submit(ctx, enc);
  const destroy = () => [lin.w, lora.a, lora.b, dora.m, dora.dm, dora.n, dora.wsq, train.lora.da, train.lora.db].forEach((x) => x.destroy());
  return { lin, p, train, dora, destroy };
}

async function forward(ctx: GpuContext, lin: GpuLinear, xs: Float32Array, T: number, lora: Parameters<typeof linearForward>[5]) {
  const x = GpuTensor.from(ctx, xs, [T, lin.cols], 'f32');
  const y = GpuTensor.from(ctx, new Float32Array(T * lin.rows).fill(NaN), [T, lin.rows], 'f32');
  const rec = new Recorder(ctx);
  linearForward(ctx, rec, y, x, lin, lora);
  rec.flush();
  const out = await y.read();
  [x, y].forEach((t) => t.destroy());
  return out;
}

describe('DoRA on the GPU vs the f64 reference', () => {
  for (const c of cases)
    it(name(c), async () => {
      const ctx = await gpu();
      const { lin, p, train, dora, destroy } = setup(ctx, c);
      const wsqRef = Float64Array.from({ length: c.O }, (_, o) => {
        let s = 0;
        for (let i = 0; i < c.I; i++) s += p.w[o * c.I + i] ** 2;
        return s;
      });
      expectClose(`${name(c)} ‖W_o‖²`, await dora.wsq.read(), wsqRef, 1e-6);
      expectClose(`${name(c)} n`, await dora.n.read(), doraNormRef(p), 1e-5);
      const xs = randomF32(c.T * c.I, c.T + 5);
      expectClose(`${name(c)} forward`, await forward(ctx, lin, xs, c.T, train.lora.lora), doraForwardRef(xs, c.T, p), 1e-5);
      // Backward, twice: overwrite, then accumulate (a second micro-batch).
      const dys = randomF32(c.T * c.O, c.T + 6);
      const x = GpuTensor.from(ctx, xs, [c.T, c.I], 'f32');
      const dy = GpuTensor.from(ctx, dys, [c.T, c.O], 'f32');
      const dx = GpuTensor.empty(ctx, [c.T, c.I], 'f32');
      const want = doraBackwardRef(dys, xs, c.T, p);
      for (const accumulate of [false, true]) {
        const enc = ctx.device.createCommandEncoder();
        linearBackward(ctx, enc, lin, { dy, x, dx, train, accumulate });
        submit(ctx, enc);
        const k = accumulate ? 2 : 1;
        const tag = `${name(c)}${accumulate ? ' (accumulated)' : ''}`;
        expectClose(`${tag} dm`, await dora.dm.read(), want.dm.map((v) => k * v), 1e-4);
        expectClose(`${tag} dA`, await train.lora.da.read(), want.da.map((v) => k * v), 1e-4);
        expectClose(`${tag} dB`, await train.lora.db.read(), want.db.map((v) => k * v), 1e-4);
        expectClose(`${tag} dx`, await dx.read(), want.dx, 1e-4);
      }
      [x, dy, dx].forEach((t) => t.destroy());
      destroy();
    });

  it('the split norm equals the direct one (f64), and a vanishing row clamps at 0', () => {
    const O = 5, I = 7, R = 2;
    const w = randomF32(O * I, 1), a = randomF32(R * I, 2), b = randomF32(O * R, 3);
    const p: DoraRefArgs = { w, a, b, m: new Float32Array(O), scale: 1.5, O, I, R };
    const wsq = Array.from({ length: O }, (_, o) => w.slice(o * I, (o + 1) * I).reduce((s, v) => s + v * v, 0));
    const awt = Array.from({ length: R * O }, (_, i) => { const k = Math.floor(i / O), o = i % O; let s = 0; for (let j = 0; j < I; j++) s += a[k * I + j] * w[o * I + j]; return s; });
    const g = Array.from({ length: R * R }, (_, i) => { const k = Math.floor(i / R), l = i % R; let s = 0; for (let j = 0; j < I; j++) s += a[k * I + j] * a[l * I + j]; return s; });
    expectClose('split norm', doraNormSplitRef(wsq, awt, b, g, 1.5, O, R), doraNormRef(p), 1e-12);
    expect(doraNormSplitRef([0], [0], [0], [0], 1, 1, 1)[0]).toBe(0);
  });

  it('the reference gradients match finite differences (norm held fixed)', () => {
    const T = 3, I = 5, O = 4, R = 2;
    const p: DoraRefArgs = { w: randomF32(O * I, 21), a: randomF32(R * I, 22), b: randomF32(O * R, 23), m: randomF32(O, 24).map((v) => 1 + v), scale: 0.7, O, I, R };
    const x = Float64Array.from(randomF32(T * I, 25));
    const dy = randomF32(T * O, 26);
    const n0 = doraNormRef(p);
    const loss = (q: DoraRefArgs, xx: ArrayLike<number>) => doraForwardRef(xx, T, q, n0).reduce((s, v, i) => s + v * dy[i], 0);
    const g = doraBackwardRef(dy, x, T, p);
    const h = 1e-6;
    const fd = (get: () => Float64Array<ArrayBufferLike>, set: (v: Float64Array<ArrayBufferLike>) => void, f: () => number) => {
      const v = get();
      return v.map((_, i) => {
        const v0 = v[i];
        v[i] = v0 + h; set(v); const up = f();
        v[i] = v0 - h; set(v); const dn = f();
        v[i] = v0; set(v);
        return (up - dn) / (2 * h);
      });
    };
    const q: DoraRefArgs & { a: Float64Array<ArrayBufferLike>; b: Float64Array<ArrayBufferLike>; m: Float64Array<ArrayBufferLike> } = { ...p, a: Float64Array.from(p.a), b: Float64Array.from(p.b), m: Float64Array.from(p.m) };
    expectClose('FD dm', fd(() => q.m, (v) => (q.m = v), () => loss(q, x)), g.dm, 1e-7);
    expectClose('FD dA', fd(() => q.a, (v) => (q.a = v), () => loss(q, x)), g.da, 1e-7);
    expectClose('FD dB', fd(() => q.b, (v) => (q.b = v), () => loss(q, x)), g.db, 1e-7);
    let xv: Float64Array<ArrayBufferLike> = Float64Array.from(x);
    expectClose('FD dx', fd(() => xv, (v) => (xv = v), () => loss(q, xv)), g.dx, 1e-7);
  });

  it('f16 forward (shader-f16 device): within f16 rounding of the reference', async () => {
    const ctx = await f16Device();
    if (!ctx) return;
    for (const c of [cases[1], cases[3]]) {
      const { lin, p, train, destroy } = setup(ctx, c);
      const xs = randomF32(c.T * c.I, c.T + 5);
      expectClose(`${name(c)} f16 forward`, await forward(ctx, lin, xs, c.T, train.lora.lora), doraForwardRef(xs, c.T, p), 4e-3);
      destroy();
    }
  });
});
