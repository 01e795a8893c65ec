// Matmul variants at linear-layer shapes, naive as the baseline of each shape.
import type { GpuContext } from '../src/gpu/device.ts';
import { GpuTensor, ledgerOf } from '../src/gpu/buffers.ts';
import { MATMUL_VARIANTS, matmul } from '../src/gpu/kernels/matmul.ts';
import { randomF32 } from '../src/gpu/random.ts';
import { bestOf } from './measure.ts';

// Decode (T=1), a short prefill and a training micro-batch, at stories/SmolLM-like widths.
const SHAPES = [
  { T: 1, I: 576, O: 1536 },
  { T: 64, I: 256, O: 256 },
  { T: 128, I: 576, O: 576 },
  { T: 256, I: 512, O: 1024 },
];

export async function* matmulBench(ctx: GpuContext) {
  for (const { T, I, O } of SHAPES) {
    const x = GpuTensor.from(ctx, randomF32(T * I, 1), [T, I], 'f32');
    const w = GpuTensor.from(ctx, randomF32(O * I, 2), [O, I], 'f32');
    const y = GpuTensor.empty(ctx, [T, O], 'f32');
    ledgerOf(ctx).resetPeak();
    const ms = await bestOf(ctx, Object.fromEntries(MATMUL_VARIANTS.map((variant) => [variant, () => matmul(ctx, y, x, w, { variant })])), 3, 150);
    const baseline = (2 * T * I * O) / (ms.naive * 1e6);
    for (const variant of MATMUL_VARIANTS) {
      const gflops = (2 * T * I * O) / (ms[variant] * 1e6);
      yield {
        bench: 'matmul',
        variant,
        T,
        I,
        O,
        ms: +ms[variant].toFixed(3),
        gflops: +gflops.toFixed(4),
        gbps: +((4 * (T * I + O * I + T * O)) / (ms[variant] * 1e6)).toFixed(4),
        baseline: 'naive',
        vs_baseline: +(gflops / baseline).toFixed(2),
        peak_gpu_bytes: ledgerOf(ctx).peak,
      };
    }
    [x, w, y].forEach((t) => t.destroy());
  }
}
