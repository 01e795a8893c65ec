// Trainable parametrizations: GPU forward/backward against the f64 reference,
// the reference chain rule against finite differences through the whole
// quantized linear layer, and exact reproduction of the starting tensor.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { normRelError } from '../../src/gpu/compare.ts';
import { qparamBackward, qparamForward, uploadParametrization } from '../../src/gpu/kernels/qparam.ts';
import { randomF32, rng } from '../../src/gpu/random.ts';
import { scaleOffsetParametrization, scaleParametrization, superblockParametrization, type Parametrization } from '../../src/quant/parametrize.ts';
import { quantizeRtn } from '../../src/quant/quantize/rtn.ts';
import { applyParametrizationRef, parametrizationBackwardRef } from '../../src/ref/parametrize.ts';
import { qlinearBackwardQuantRef, qlinearForwardRef } from '../../src/ref/qlinear.ts';
import { emptyQTensor, setCode } from '../../src/quant/qtensor.ts';

const T = 3;
const O = 6;
const I = 64;

function tensors() {
  const q = quantizeRtn(randomF32(O * I, 5), O, I, { bits: 4, groupSize: 16 });
  // K-quant-like tensors: groups of 16, 2 super-blocks of 2 groups per row.
  const r = rng(9);
  const S = O * 2;
  const d = randomF32(S, 1).map((v) => Math.abs(v) * 0.01 + 0.001);
  const dmin = randomF32(S, 2).map((v) => Math.abs(v) * 0.01);
  const sc = Uint8Array.from({ length: S * 2 }, () => Math.floor(r() * 64));
  const m = Uint8Array.from({ length: S * 2 }, () => Math.floor(r() * 64));
  const withCodes = (p: Parametrization) => {
    const k = emptyQTensor(O, I, 4, 16);
    for (let o = 0; o < O; o++) for (let c = 0; c < I; c++) setCode(k, o, c, Math.floor(r() * 16));
    const eff = applyParametrizationRef(p);
    k.scale.set(eff.scale);
    k.offset.set(eff.offset);
    return k;
  };
  const sb = superblockParametrization(d, dmin, sc, m, 2);
  const sbSym = superblockParametrization(d, null, sc, null, 2, 4); // Q3_K / Q6_K style: no mins, signed codes
  return {
    kinds: [
      ['scale', q, scaleParametrization(q)],
      ['scale+offset', q, scaleOffsetParametrization(q)],
      ['gguf-superblock (d, dmin)', withCodes(sb), sb],
      ['gguf-superblock (d only)', withCodes(sbSym), sbSym],
    ] as const,
  };
}

describe('parametrizations', () => {
  const { kinds } = tensors();
  for (const [name, qt, p] of kinds) {
    it(`${name}: starts at the tensor's own scale and offset`, () => {
      const { scale, offset } = applyParametrizationRef(p as Parametrization);
      expect(normRelError(scale, qt.scale)).toBeLessThanOrEqual(1e-7);
      expect(normRelError(offset, qt.offset)).toBeLessThanOrEqual(1e-6);
    });

    it(`${name}: GPU forward and backward match the reference`, async () => {
      const ctx = await gpu();
      const gp = uploadParametrization(ctx, p as Parametrization);
      const theta = randomF32(p.theta.length, 17);
      gp.theta.write(theta);
      const G = p.a.length;
      const scale = GpuTensor.empty(ctx, [G], 'f32');
      const offset = GpuTensor.empty(ctx, [G], 'f32');
      qparamForward(ctx, gp, scale, offset);
      const want = applyParametrizationRef(p as Parametrization, theta);
      expect(normRelError(await scale.read(), want.scale)).toBeLessThanOrEqual(1e-6);
      expect(normRelError(await offset.read(), want.offset)).toBeLessThanOrEqual(1e-6);
      const ds = randomF32(G, 3);
      const dm = randomF32(G, 4);
      const tds = GpuTensor.from(ctx, ds, [G], 'f32');
      const tdm = GpuTensor.from(ctx, dm, [G], 'f32');
      const prev = randomF32(p.theta.length, 6);
      const dtheta = GpuTensor.from(ctx, prev, [p.theta.length], 'f32');
      qparamBackward(ctx, gp, tds, tdm, dtheta, { accumulate: true });
      const ref = parametrizationBackwardRef(p as Parametrization, ds, dm).map((v, i) => v + prev[i]);
      expect(normRelError(await dtheta.read(), ref)).toBeLessThanOrEqual(1e-6);
      [scale, offset, tds, tdm, dtheta].forEach((t) => t.destroy());
      gp.destroy();
    });

    it(`${name}: chain rule through the linear layer equals finite differences`, () => {
      const x = randomF32(T * I, 7);
      const dy = randomF32(T * O, 8);
      const loss = (theta: Float64Array) => {
        const eff = applyParametrizationRef(p as Parametrization, theta);
        return qlinearForwardRef(x, T, qt, undefined, eff).reduce((s, v, i) => s + v * dy[i], 0);
      };
      const { dscale, doffset } = qlinearBackwardQuantRef(x, dy, T, qt);
      const analytic = parametrizationBackwardRef(p as Parametrization, dscale, doffset);
      const th = Float64Array.from(p.theta);
      const h = 1e-5;
      const numeric = th.map((_, i) => {
        const up = th.slice();
        const dn = th.slice();
        up[i] += h;
        dn[i] -= h;
        return (loss(up) - loss(dn)) / (2 * h);
      });
      expect(normRelError(analytic, numeric)).toBeLessThanOrEqual(1e-6);
    });
  }

  it('scale parametrization refuses a tensor without integer zero points', () => {
    const q = quantizeRtn(randomF32(16, 1), 1, 16, { bits: 4, groupSize: 16 });
    q.offset[0] += q.scale[0] * 0.37;
    expect(() => scaleParametrization(q)).toThrow(/no integer zero point/);
  });
});
