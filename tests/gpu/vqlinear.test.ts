// The codebook kernels (vqlinear_*.wgsl, vq_dequantize.wgsl through the
// qlinear entry points) against the f64 references of src/ref/vqlinear.ts, on
// random VqTensors (random tables, indices, signs, scales and offsets) of every
// vector length and index width, signed or not, on awkward shapes (T = 1, 13;
// O not a multiple of 4; I = 32, 96; a group = the row; LoRA); the references
// against finite differences; codes split across bindings; the table cache.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { compareArrays, normRelError } from '../../src/gpu/compare.ts';
import { dequantizeGpu, qlinearBackward, qlinearForward } from '../../src/gpu/kernels/qlinear.ts';
import { uploadVqTensor } from '../../src/gpu/vq_gpu.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { dequantizeVq, vqWordsPerRow } from '../../src/quant/vq/vqtensor.ts';
import { randomVq, vqCaseName, type VqCase } from '../helpers/vq_case.ts';
import { loraBackwardRef, type LoraRef } from '../../src/ref/qlinear.ts';
import { vqlinearBackwardInputRef, vqlinearBackwardQuantRef, vqlinearForwardRef } from '../../src/ref/vqlinear.ts';

const cases: VqCase[] = [];
// Every layout at one shape.
for (const dim of [1, 2, 4, 8] as const) for (const bits of [2, 4, 8, 16] as const) for (const signed of [false, true]) cases.push({ T: 3, I: 64, O: 5, dim, bits, signed, G: 32 });
// Awkward shapes, group sizes, LoRA, learned tables.
cases.push({ T: 1, I: 32, O: 1, dim: 8, bits: 8, signed: true, G: 16 });
cases.push({ T: 13, I: 96, O: 10, dim: 4, bits: 16, signed: true, G: 32, R: 2 });
cases.push({ T: 13, I: 96, O: 7, dim: 1, bits: 4, signed: false, G: 'channel' });
cases.push({ T: 9, I: 256, O: 6, dim: 8, bits: 16, signed: true, G: 256, R: 3, learned: true });
cases.push({ T: 20, I: 128, O: 37, dim: 1, bits: 4, signed: false, G: 64 });
cases.push({ T: 5, I: 160, O: 3, dim: 8, bits: 8, signed: true, G: 'channel', learned: true });
cases.push({ T: 17, I: 128, O: 9, dim: 2, bits: 8, signed: true, G: 128, R: 1 });
cases.push({ T: 1, I: 96, O: 70, dim: 4, bits: 8, signed: false, G: 16, R: 4 });

function report(name: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  const s = compareArrays(got, want);
  const rel = normRelError(got, want);
  console.log(`${name}: max abs ${s.maxAbs.toExponential(2)}, max rel ${rel.toExponential(2)}`);
  expect(rel, `${name}: max abs ${s.maxAbs.toExponential(3)}, max rel ${rel.toExponential(3)}, worst ${s.worst}: got ${got[s.worst]} want ${want[s.worst]}`).toBeLessThanOrEqual(tol);
}

async function runCase(c: VqCase, split: boolean, accumulate: boolean, label: string) {
  const ctx = await gpu();
  const q = randomVq(c, c.I * 7 + c.O * 3 + c.dim + c.bits);
  const w = uploadVqTensor(ctx, q, 'vq', split ? { maxBindingBytes: vqWordsPerRow(q) * 4 * 3 } : {});
  if (split) expect(w.codeParts.length).toBe(Math.ceil(c.O / 3));
  const { T, I, O } = c;
  const R = c.R ?? 0;
  const xs = randomF32(T * I, T + 5);
  const dys = randomF32(T * O, T + 6);
  const lora: LoraRef | undefined = R ? { a: randomF32(R * I, 11), b: randomF32(O * R, 12), rank: R, scale: 2 / R } : undefined;
  const gl = lora && { a: GpuTensor.from(ctx, lora.a as Float32Array, [R, I], 'f32'), b: GpuTensor.from(ctx, lora.b as Float32Array, [O, R], 'f32'), scale: lora.scale };
  const x = GpuTensor.from(ctx, xs, [T, I], 'f32');
  const dy = GpuTensor.from(ctx, dys, [T, O], 'f32');
  const y = GpuTensor.from(ctx, new Float32Array(T * O).fill(NaN), [T, O], 'f32');
  const ng = q.scale.length / O;
  const init = (n: number, shape: number[], seed: number) => {
    const v = accumulate ? randomF32(n, seed) : new Float32Array(n).fill(NaN);
    return { v, t: GpuTensor.from(ctx, v, shape, 'f32') };
  };
  const dx = init(T * I, [T, I], 31);
  const ds = init(O * ng, [O, ng], 32);
  const dm = init(O * ng, [O, ng], 33);
  const da = lora && init(R * I, [R, I], 34);
  const db = lora && init(O * R, [O, R], 35);
  const deq = GpuTensor.from(ctx, new Float32Array(O * I).fill(NaN), [O, I], 'f32');
  qlinearForward(ctx, y, x, w, gl, { f16: false });
  qlinearBackward(ctx, dy, x, w, { dx: dx.t, dscale: ds.t, doffset: dm.t, da: da?.t, db: db?.t, accumulate }, gl);
  dequantizeGpu(ctx, w, deq);
  report(`${label} y`, await y.read(), vqlinearForwardRef(xs, T, q, lora), 1e-5);
  const want = { dx: vqlinearBackwardInputRef(dys, T, q, lora), ...vqlinearBackwardQuantRef(xs, dys, T, q), ...(lora ? loraBackwardRef(xs, dys, T, I, O, lora) : {}) };
  for (const [name, g, ref] of [['dx', dx, want.dx], ['dscale', ds, want.dscale], ['doffset', dm, want.doffset], ['da', da, (want as { da?: Float64Array }).da], ['db', db, (want as { db?: Float64Array }).db]] as const) {
    if (!g || !ref) continue;
    report(`${label} ${name}`, await g.t.read(), accumulate ? ref.map((v, i) => v + g.v[i]) : ref, 1e-4);
  }
  report(`${label} dequantize`, await deq.read(), dequantizeVq(q), 1e-6);
  [x, dy, y, deq, dx.t, ds.t, dm.t, da?.t, db?.t, gl?.a, gl?.b].forEach((t) => t?.destroy());
  w.destroy();
}

describe('vqlinear kernels vs f64 reference', () => {
  for (const c of cases) it(vqCaseName(c), () => runCase(c, false, false, vqCaseName(c)));
  it('accumulate (beta = 1) with LoRA', () => runCase({ T: 13, I: 96, O: 10, dim: 4, bits: 16, signed: true, G: 32, R: 2 }, false, true, 'accumulate'));
});

describe('vqlinear with codes split across bindings', () => {
  for (const c of [
    { T: 9, I: 128, O: 50, dim: 8, bits: 8, signed: true, G: 16, R: 3 },
    { T: 5, I: 64, O: 37, dim: 1, bits: 4, signed: false, G: 32 },
    { T: 3, I: 96, O: 11, dim: 4, bits: 16, signed: true, G: 'channel', R: 1 },
  ] as VqCase[])
    it(vqCaseName(c), () => runCase(c, true, true, `split ${vqCaseName(c)}`));
});

describe('codebook tables on the device', () => {
  it('a fixed codebook is uploaded once and shared; a learned one belongs to its tensor', async () => {
    const ctx = await gpu();
    const a = randomVq({ I: 64, O: 2, dim: 8, bits: 8, signed: true, G: 32 }, 1);
    const b = { ...a, codes: a.codes.slice() };
    const c = randomVq({ I: 64, O: 2, dim: 8, bits: 8, signed: true, G: 32, learned: true }, 2);
    const d = { ...c, codes: c.codes.slice() };
    const [wa, wb, wc, wd] = [a, b, c, d].map((q) => uploadVqTensor(ctx, q));
    expect(wa.vq!.table).toBe(wb.vq!.table);
    expect(wc.vq!.table).not.toBe(wd.vq!.table);
    // Equal fixed tables built twice (same name, size, dim) share too.
    const e = uploadVqTensor(ctx, { ...a, codebook: { ...a.codebook, values: a.codebook.values.slice() } });
    expect(e.vq!.table).toBe(wa.vq!.table);
    [wa, wb, wc, wd, e].forEach((w) => w.destroy());
  });
});

describe('vqlinear references vs finite differences', () => {
  const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i] * b[i];
    return s;
  };
  for (const c of [
    { T: 3, I: 32, O: 3, dim: 8, bits: 8, signed: true, G: 16, R: 2 },
    { T: 2, I: 64, O: 2, dim: 1, bits: 4, signed: false, G: 'channel' },
    { T: 4, I: 32, O: 5, dim: 4, bits: 16, signed: true, G: 32 },
  ] as VqCase[])
    it(vqCaseName(c), () => {
      const q = randomVq(c, 9);
      const x = randomF32(c.T * c.I, 1);
      const dy = randomF32(c.T * c.O, 2);
      const R = c.R ?? 0;
      const lora: LoraRef | undefined = R ? { a: randomF32(R * c.I, 3), b: randomF32(c.O * R, 4), rank: R, scale: 0.5 } : undefined;
      const loss = (xx: ArrayLike<number>, p: { scale?: Float64Array; offset?: Float64Array }) => dot(dy, vqlinearForwardRef(xx, c.T, q, lora, p));
      const h = 1e-4;
      const fd = (n: number, f: (i: number, d: number) => number) => Float64Array.from({ length: n }, (_, i) => (f(i, h) - f(i, -h)) / (2 * h));
      const check = (name: string, analytic: ArrayLike<number>, numeric: Float64Array) => {
        const e = normRelError(analytic, numeric);
        console.log(`fd ${vqCaseName(c)} ${name}: rel ${e.toExponential(2)}`);
        expect(e, name).toBeLessThanOrEqual(1e-6);
      };
      const x64 = Float64Array.from(x);
      check('dx', vqlinearBackwardInputRef(dy, c.T, q, lora), fd(x.length, (i, d) => loss(x64.map((v, j) => (j === i ? v + d : v)), {})));
      const { dscale, doffset } = vqlinearBackwardQuantRef(x, dy, c.T, q);
      const s64 = Float64Array.from(q.scale);
      const m64 = Float64Array.from(q.offset);
      check('dscale', dscale, fd(s64.length, (i, d) => loss(x, { scale: s64.map((v, j) => (j === i ? v + d : v)), offset: m64 })));
      check('doffset', doffset, fd(m64.length, (i, d) => loss(x, { scale: s64, offset: m64.map((v, j) => (j === i ? v + d : v)) })));
    });
});
