// qlinear_forward against the f64 CPU reference: every bit width, every group
// size including per-channel, T = 1 and shapes that are not multiples of any
// tile, with and without the fused LoRA term.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { caseName, runForwardCase, type QLinearCase } from '../helpers/qlinear_case.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { compareArrays, normRelError } from '../../src/gpu/compare.ts';
import { qlinearForwardPrep } from '../../src/gpu/kernels/qlinear.ts';
import { uploadQTensor } from '../../src/gpu/qtensor_gpu.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { QBITS } from '../../src/quant/qtensor.ts';
import { quantizeRtn } from '../../src/quant/quantize/rtn.ts';
import { qlinearForwardPrepRef, qlinearForwardRef } from '../../src/ref/qlinear.ts';

const cases: QLinearCase[] = [];
for (const bits of QBITS) for (const G of [16, 32, 64, 128, 256, 'channel'] as const) cases.push({ T: 3, I: 256, O: 5, bits, G });
cases.push({ T: 1, I: 16, O: 1, bits: 4, G: 16 });
cases.push({ T: 1, I: 37, O: 3, bits: 3, G: 'channel' });
cases.push({ T: 7, I: 172, O: 64, bits: 2, G: 'channel' });
cases.push({ T: 9, I: 80, O: 33, bits: 5, G: 16 });
cases.push({ T: 5, I: 64, O: 70, bits: 4, G: 32, R: 4 });
cases.push({ T: 1, I: 96, O: 9, bits: 3, G: 32, R: 1 });
cases.push({ T: 6, I: 45, O: 7, bits: 6, G: 'channel', R: 3 });
// Past one 8-token tile, ending mid-tile: every bit width's decode, both scale schemes (G = 32: per step; per-channel: per group).
for (const bits of QBITS) cases.push({ T: 13, I: 128, O: 10, bits, G: bits === 8 ? 'channel' : 32, R: bits === 3 ? 2 : undefined });
cases.push({ T: 20, I: 176, O: 37, bits: 3, G: 64 });
// Groups of 16 take the per-step scale scheme (one pass over the row, offsets after).
cases.push({ T: 17, I: 96, O: 12, bits: 6, G: 16, R: 2 });
cases.push({ T: 11, I: 48, O: 5, bits: 2, G: 16 });

describe('qlinear_forward', () => {
  for (const c of cases)
    it(caseName(c), async () => {
      const ctx = await gpu();
      const { got, xs, q, lora } = await runForwardCase(ctx, c);
      const want = qlinearForwardRef(xs, c.T, q, lora);
      const s = compareArrays(got, want);
      const rel = normRelError(got, want);
      expect(rel, `max abs ${s.maxAbs.toExponential(3)}, max rel ${rel.toExponential(3)}, worst index ${s.worst}: got ${got[s.worst]} want ${want[s.worst]}`).toBeLessThanOrEqual(1e-5);
    });
});

// The prescaled X and per-group sums the blocked kernel reads: XP is an exact
// power-of-two scaling, SX a plain f32 sum (ragged last groups, per-channel, T = 1).
describe('qlinear_forward_prep', () => {
  const prep: QLinearCase[] = [
    { T: 1, I: 16, O: 1, bits: 4, G: 16 },
    { T: 5, I: 172, O: 1, bits: 2, G: 32 },
    { T: 3, I: 256, O: 1, bits: 8, G: 'channel' },
    { T: 7, I: 96, O: 1, bits: 3, G: 64 },
    { T: 70, I: 48, O: 1, bits: 6, G: 16 },
  ];
  for (const c of prep)
    it(`T=${c.T} I=${c.I} bits=${c.bits} G=${c.G}`, async () => {
      const ctx = await gpu();
      const q = quantizeRtn(randomF32(c.I, 1), 1, c.I, { bits: c.bits, groupSize: c.G });
      const xs = randomF32(c.T * c.I, c.T * 7 + c.I);
      const wq = uploadQTensor(ctx, q);
      const x = GpuTensor.from(ctx, xs, [c.T, c.I], 'f32');
      const made: GpuTensor<'f32'>[] = [];
      const { xp, sx } = qlinearForwardPrep(ctx, x, wq, (shape, label) => {
        const t = GpuTensor.from(ctx, new Float32Array(shape[0] * shape[1]).fill(NaN), shape, 'f32', label);
        made.push(t);
        return t;
      });
      const [gotXp, gotSx] = [await xp.read(), await sx.read()];
      [x, ...made].forEach((t) => t.destroy());
      wq.destroy();
      const want = qlinearForwardPrepRef(xs, c.T, c.I, q.groupSize, c.bits);
      for (const [name, got, ref, tol] of [['xp', gotXp, want.xp, 0], ['sx', gotSx, want.sx, 1e-6]] as const) {
        const s = compareArrays(got, ref);
        const rel = normRelError(got, ref);
        expect(rel, `${name}: max abs ${s.maxAbs.toExponential(3)}, max rel ${rel.toExponential(3)}, worst index ${s.worst}: got ${got[s.worst]} want ${ref[s.worst]}`).toBeLessThanOrEqual(tol);
      }
    });
});
