// The f16 codebook forward (vqlinear_forward_f16.wgsl) on a device that grants
// shader-f16 (mesa's lavapipe; skipped cleanly without one, as
// tests/gpu/qlinear_forward_f16.test.ts), against the f64 reference with f16's
// error model: each output within 20·2^-11 of Σ_k |x_k|·(|scale|·max|table| +
// |offset|) of k's group, the kernel's per-group range bound (see its header),
// and max |error| / max |y| ≤ 8·2^-11.
import { describe, expect, it } from 'vitest';
import { f16Device as device } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { compareArrays, normRelError } from '../../src/gpu/compare.ts';
import { qlinearForward } from '../../src/gpu/kernels/qlinear.ts';
import { uploadVqTensor } from '../../src/gpu/vq_gpu.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { vqGroupsPerRow, vqWordsPerRow, type VqTensor } from '../../src/quant/vq/vqtensor.ts';
import { vqlinearForwardRef } from '../../src/ref/vqlinear.ts';
import { randomVq, vqCaseName, type VqCase } from '../helpers/vq_case.ts';

const U = 2 ** -11;

/** m[t,o] = Σ_k |x[t,k]|·(|scale|·max|table| + |offset|) of k's group. */
function errorScale(x: ArrayLike<number>, T: number, q: VqTensor): Float64Array {
  const ng = vqGroupsPerRow(q);
  let tmax = 0;
  for (const v of q.codebook.values) tmax = Math.max(tmax, Math.abs(v));
  const m = new Float64Array(T * q.rows);
  for (let t = 0; t < T; t++)
    for (let o = 0; o < q.rows; o++) {
      let s = 0;
      for (let k = 0; k < q.cols; k++) {
        const gi = o * ng + Math.floor(k / q.groupSize);
        s += Math.abs(x[t * q.cols + k]) * (Math.abs(q.scale[gi]) * tmax + Math.abs(q.offset[gi]));
      }
      m[t * q.rows + o] = s;
    }
  return m;
}

const cases: (VqCase & { split?: boolean; wMul?: number })[] = [];
for (const dim of [1, 2, 4, 8] as const) for (const bits of [2, 4, 8, 16] as const) cases.push({ T: 3, I: 64, O: 5, dim, bits, signed: bits !== 4, G: 32 });
cases.push({ T: 13, I: 96, O: 10, dim: 4, bits: 16, signed: true, G: 32, R: 2 });
cases.push({ T: 9, I: 2048, O: 6, dim: 8, bits: 8, signed: true, G: 'channel' });
cases.push({ T: 5, I: 96, O: 9, dim: 1, bits: 4, signed: false, G: 16, wMul: 1e-6 });
cases.push({ T: 9, I: 128, O: 50, dim: 8, bits: 16, signed: true, G: 16, R: 3, split: true });

describe('vqlinear_forward_f16', () => {
  for (const c of cases)
    it(`${vqCaseName(c)}${c.split ? ' split' : ''}${c.wMul ? ` |W|×${c.wMul}` : ''}`, async () => {
      const ctx = await device();
      if (!ctx) return;
      const q = randomVq(c, c.I + c.O + c.dim * 10 + c.bits);
      if (c.wMul) q.scale.set(q.scale.map((v) => v * c.wMul!)), q.offset.set(q.offset.map((v) => v * c.wMul!));
      const { T, I, O } = c;
      const R = c.R ?? 0;
      const xs = randomF32(T * I, T + 5);
      const lora = R ? { a: randomF32(R * I, 11), b: randomF32(O * R, 12), rank: R, scale: 2 / R } : undefined;
      const w = uploadVqTensor(ctx, q, 'vq', c.split ? { maxBindingBytes: vqWordsPerRow(q) * 4 * 3 } : {});
      const x = GpuTensor.from(ctx, xs, [T, I], 'f32');
      const y = GpuTensor.from(ctx, new Float32Array(T * O).fill(NaN), [T, O], 'f32');
      const gl = lora && { a: GpuTensor.from(ctx, lora.a, [R, I], 'f32'), b: GpuTensor.from(ctx, lora.b, [O, R], 'f32'), scale: lora.scale };
      qlinearForward(ctx, y, x, w, gl, { f16: true });
      const got = await y.read();
      [x, y, gl?.a, gl?.b].forEach((t) => t?.destroy());
      w.destroy();
      const want = vqlinearForwardRef(xs, T, q, lora);
      const scale = errorScale(xs, T, q);
      let worst = 0;
      let at = 0;
      for (let i = 0; i < want.length; i++) {
        const r = Math.abs(got[i] - want[i]) / (20 * U * scale[i] + 1e-6 * Math.abs(want[i]) + 1e-30);
        if (!(r <= worst)) [worst, at] = [r, i];
      }
      const s = compareArrays(got, want);
      const rel = normRelError(got, want);
      const msg = `max abs ${s.maxAbs.toExponential(3)}, max rel ${rel.toExponential(3)}, worst error/bound ${worst.toFixed(3)} at ${at}: got ${got[at]} want ${want[at]}`;
      console.log(`f16 ${vqCaseName(c)}: ${msg}`);
      expect(worst, msg).toBeLessThanOrEqual(1);
      expect(rel, msg).toBeLessThanOrEqual(8 * U);
    });
});
