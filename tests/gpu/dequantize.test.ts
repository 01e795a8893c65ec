// The GPU dequantizer (shared code decoder of every qlinear kernel) against the
// CPU QTensor layout, for every bit width and group size, exactly.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { normRelError } from '../../src/gpu/compare.ts';
import { dequantizeGpu } from '../../src/gpu/kernels/qlinear.ts';
import { uploadQTensor } from '../../src/gpu/qtensor_gpu.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { QBITS, dequantizeQ } from '../../src/quant/qtensor.ts';
import { quantizeRtn } from '../../src/quant/quantize/rtn.ts';

describe('dequantize kernel', () => {
  for (const bits of QBITS)
    for (const [O, I, G] of [[3, 64, 16], [2, 96, 32], [5, 45, 'channel'], [1, 256, 256]] as const)
      it(`${bits}-bit [${O}, ${I}] group ${G}`, async () => {
        const ctx = await gpu();
        const q = quantizeRtn(randomF32(O * I, bits * 100 + I), O, I, { bits, groupSize: G });
        const w = uploadQTensor(ctx, q);
        const out = GpuTensor.empty(ctx, [O, I], 'f32');
        dequantizeGpu(ctx, w, out);
        const got = await out.read();
        // scale·q + offset: f32 on the GPU, f64 on the CPU; near-zero values cancel, so
        // the error is measured against the tensor's largest magnitude.
        const want = dequantizeQ(q);
        expect(normRelError(got, want), 'max |gpu − cpu| / max |cpu|').toBeLessThanOrEqual(1e-6);
        out.destroy();
        w.destroy();
      });
});
