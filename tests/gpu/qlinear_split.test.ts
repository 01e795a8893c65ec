// Weights whose codes exceed one storage binding are split by rows into parts
// (src/gpu/qtensor_gpu.ts). With a forced tiny limit, every qlinear kernel must
// give the same results as with one part.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { GpuLimitError } from '../../src/gpu/errors.ts';
import { normRelError } from '../../src/gpu/compare.ts';
import { dequantizeGpu, qlinearBackward, qlinearForward } from '../../src/gpu/kernels/qlinear.ts';
import { uploadQTensor } from '../../src/gpu/qtensor_gpu.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { dequantizeQ } from '../../src/quant/qtensor.ts';
import { quantizeRtn } from '../../src/quant/quantize/rtn.ts';
import { qlinearBackwardInputRef, qlinearBackwardQuantRef, qlinearForwardRef } from '../../src/ref/qlinear.ts';

describe('qlinear with codes split across bindings', () => {
  for (const [T, I, O, bits, G, R] of [
    [5, 64, 37, 4, 32, 0],
    [3, 45, 21, 3, 'channel', 2],
    [9, 128, 50, 2, 16, 3],
  ] as const)
    it(`T=${T} I=${I} O=${O} ${bits}-bit group ${G}${R ? ` LoRA r=${R}` : ''}`, async () => {
      const ctx = await gpu();
      const q = quantizeRtn(randomF32(O * I, I + O), O, I, { bits, groupSize: G });
      const rowBytes = Math.ceil(I / 32) * bits * 4;
      // 3 rows per part: parts of 3, 3, …, and a short last one (+4: 3-bit parts carry a padding word).
      const w = uploadQTensor(ctx, q, 'split', { maxBindingBytes: rowBytes * 3 + 4 });
      expect(w.codeParts.length).toBe(Math.ceil(O / 3));
      const xs = randomF32(T * I, 1);
      const dys = randomF32(T * O, 2);
      const lora = R ? { a: randomF32(R * I, 3), b: randomF32(O * R, 4), rank: R, scale: 0.5 } : undefined;
      const x = GpuTensor.from(ctx, xs, [T, I], 'f32');
      const dy = GpuTensor.from(ctx, dys, [T, O], 'f32');
      const gl = lora && { a: GpuTensor.from(ctx, lora.a, [R, I], 'f32'), b: GpuTensor.from(ctx, lora.b, [O, R], 'f32'), scale: lora.scale };
      const y = GpuTensor.empty(ctx, [T, O], 'f32');
      const dx = GpuTensor.empty(ctx, [T, I], 'f32');
      const ng = w.scale.shape[1];
      const ds = GpuTensor.empty(ctx, [O, ng], 'f32');
      const dm = GpuTensor.empty(ctx, [O, ng], 'f32');
      const deq = GpuTensor.empty(ctx, [O, I], 'f32');
      qlinearForward(ctx, y, x, w, gl);
      qlinearBackward(ctx, dy, x, w, { dx, dscale: ds, doffset: dm }, gl);
      dequantizeGpu(ctx, w, deq);
      expect(normRelError(await y.read(), qlinearForwardRef(xs, T, q, lora)), 'y').toBeLessThanOrEqual(1e-5);
      expect(normRelError(await dx.read(), qlinearBackwardInputRef(dys, T, q, lora)), 'dx').toBeLessThanOrEqual(1e-4);
      const want = qlinearBackwardQuantRef(xs, dys, T, q);
      expect(normRelError(await ds.read(), want.dscale), 'dscale').toBeLessThanOrEqual(1e-4);
      expect(normRelError(await dm.read(), want.doffset), 'doffset').toBeLessThanOrEqual(1e-4);
      expect(normRelError(await deq.read(), dequantizeQ(q)), 'dequantize').toBeLessThanOrEqual(1e-6);
      [x, dy, y, dx, ds, dm, deq, gl?.a, gl?.b].forEach((t) => t?.destroy());
      w.destroy();
    });

  it('refuses a limit smaller than one row, naming it', async () => {
    const ctx = await gpu();
    const q = quantizeRtn(randomF32(2 * 64, 1), 2, 64, { bits: 4, groupSize: 32 });
    expect(() => uploadQTensor(ctx, q, 'tiny', { maxBindingBytes: 8 })).toThrow(GpuLimitError);
  });
});
