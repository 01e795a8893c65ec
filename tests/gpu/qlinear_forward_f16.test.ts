// The f16 forward (qlinear_forward_f16.wgsl) and its activation cast
// (cast_f16.wgsl) on a device that grants shader-f16: mesa's lavapipe here,
// since SwiftShader has none (tests/helpers/gpu.ts). Against the f64 reference
// with f16's error model: each output within 20·2^-11 of Σ|x|·(group's largest
// |w|) (a proven bound, loose), and max |error| / max |y| ≤ 4e-3 = 8·2^-11 (f16
// carries 11 bits, so ~1e-3 is expected; a wrong scale or code shows as ≥ 1e-1);
// the cast exactly as f16round.
import { describe, expect, it } from 'vitest';
import { f16Device as device } from '../helpers/gpu.ts';
import { caseName, runForwardCase, type QLinearCase } from '../helpers/qlinear_case.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { compareArrays, normRelError } from '../../src/gpu/compare.ts';
import { toF16 } from '../../src/gpu/kernels/cast.ts';
import { forwardVariant } from '../../src/gpu/kernels/qlinear.ts';
import { createNodeGpuContext } from '../../src/gpu/node.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { QBITS } from '../../src/quant/qtensor.ts';
import { f16round, unpackF16 } from '../../src/ref/f16.ts';
import { qlinearF16ErrorScaleRef, qlinearForwardRef } from '../../src/ref/qlinear.ts';

const U = 2 ** -11; // f16's unit roundoff

describe('cast_f16', () => {
  it('rounds like f16round: random values, ties, subnormals, the largest finite f16', async () => {
    const ctx = await device();
    if (!ctx) return;
    const edge = [0, -0, 1, -1, 65504, -65504, 65519, 2 ** -24, 2 ** -25 * 3, 2 ** -14, 2 ** -15, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2049, 2051, 1e-9, -3.14159];
    const xs = new Float32Array(4096 + 20);
    xs.set(randomF32(4096, 7).map((v, i) => v * 10 ** ((i % 9) - 4)));
    xs.set(edge, 4096);
    const x = GpuTensor.from(ctx, xs, [xs.length], 'f32');
    const y = toF16(ctx, x);
    const got = unpackF16(await y.read());
    [x, y].forEach((t) => t.destroy());
    let bad = 0;
    let first = '';
    for (let i = 0; i < xs.length; i++)
      if (!Object.is(got[i], f16round(xs[i]))) {
        bad++;
        first ||= `x[${i}] = ${xs[i]}: got ${got[i]}, want ${f16round(xs[i])}`;
      }
    expect(bad, `${bad} of ${xs.length} values differ from f16round; first: ${first}`).toBe(0);
  });
});

const cases: QLinearCase[] = [];
for (const bits of QBITS) for (const G of [16, 32, 64, 128, 256, 'channel'] as const) cases.push({ T: 3, I: 256, O: 5, bits, G });
cases.push({ T: 1, I: 16, O: 1, bits: 4, G: 16 });
cases.push({ T: 13, I: 128, O: 10, bits: 3, G: 32, R: 2 });
cases.push({ T: 20, I: 176, O: 37, bits: 6, G: 16 });
cases.push({ T: 9, I: 2048, O: 6, bits: 4, G: 64 }); // a long row: f32 sums keep it accurate
// Weights far below f16's normal range (scales ~1e-8) and activations in the hundreds: the per-group normalisation.
cases.push({ T: 5, I: 96, O: 9, bits: 8, G: 32, wMul: 1e-6 });
cases.push({ T: 5, I: 96, O: 9, bits: 4, G: 'channel', wMul: 1e3, xMul: 300 });
cases.push({ T: 9, I: 128, O: 50, bits: 3, G: 16, R: 3, split: true });

describe('qlinear_forward_f16', () => {
  it('is the variant a shader-f16 device runs, unless f32 is asked for', async () => {
    const ctx = await device();
    if (!ctx) return;
    expect(forwardVariant(ctx, 64)).toBe('f16');
    expect(forwardVariant(ctx, 64, false)).toBe('blocked');
    expect(forwardVariant(ctx, 63)).toBe('scalar');
  });

  it('is off on a device made with f16: false (SUB4_F16=0)', async () => {
    if (!(await device())) return;
    const off = await createNodeGpuContext({ adapter: 'llvmpipe', f16: false });
    try {
      expect(off.features.f16).toBe(false);
      expect(forwardVariant(off, 64)).toBe('blocked');
    } finally {
      off.destroy();
    }
  });

  for (const c of cases)
    it(caseName(c), async () => {
      const ctx = await device();
      if (!ctx) return;
      const { got, xs, q, lora } = await runForwardCase(ctx, c);
      const want = qlinearForwardRef(xs, c.T, q, lora);
      const scale = qlinearF16ErrorScaleRef(xs, c.T, q);
      let worst = 0;
      let at = 0;
      for (let i = 0; i < want.length; i++) {
        const r = Math.abs(got[i] - want[i]) / (20 * U * scale[i] + 1e-6 * Math.abs(want[i]) + 1e-30);
        if (!(r <= worst)) [worst, at] = [r, i]; // NaN counts as worst
      }
      const s = compareArrays(got, want);
      const rel = normRelError(got, want);
      const msg = `max abs ${s.maxAbs.toExponential(3)}, max rel ${rel.toExponential(3)}, worst error/bound ${worst.toFixed(3)} at ${at}: got ${got[at]} want ${want[at]}`;
      expect(worst, msg).toBeLessThanOrEqual(1);
      expect(rel, msg).toBeLessThanOrEqual(8 * U);
    });
});
