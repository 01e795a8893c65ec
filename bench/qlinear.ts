// Quantized linear kernels at real model shapes (T = 128; SmolLM2-135M's
// 576→1536 and 1536→576, Llama-3.2-1B's 2048→8192), each next to the best
// plain f32 matmul on the same shape in the same run (`vs_baseline`).
// Timings are the best of 5 interleaved rounds (bench/measure.ts);
// `vs_baseline` compares the bests, `vs_baseline_paired` is the median of the
// rounds' own ratios. On a device with shader-f16 the f16 forward
// (qlinear_forward_f16) is timed too.
// Codebook tensors (src/quant/vq/vqtensor.ts; kernels/vqlinear.ts) are timed
// the same way for the layouts of ggml's codebook types, with random tables of
// the right size and random indices and signs (kernel names vqlinear_*, `type`
// naming the layout). SUB4_BENCH_CODEBOOK_ONLY=1 skips the scalar grids.
import type { GpuContext } from '../src/gpu/device.ts';
import { GpuTensor, ledgerOf } from '../src/gpu/buffers.ts';
import { matmul } from '../src/gpu/kernels/matmul.ts';
import { qlinearBackward, qlinearForward } from '../src/gpu/kernels/qlinear.ts';
import { uploadQTensor } from '../src/gpu/qtensor_gpu.ts';
import { randomF32 } from '../src/gpu/random.ts';
import { quantizeRtn } from '../src/quant/quantize/rtn.ts';
import { uploadVqTensor } from '../src/gpu/vq_gpu.ts';
import { emptyVqTensor, type VqDim, type VqIndexBits } from '../src/quant/vq/vqtensor.ts';
import { fastest, interleaved, pairedRatio } from './measure.ts';

const SHAPES = [
  { T: 128, I: 576, O: 1536 },
  { T: 128, I: 1536, O: 576 },
  { T: 128, I: 2048, O: 8192 },
];
// Bit widths whose codes never cross a word (2, 4) and one whose codes do (3),
// with long groups and per-channel, plus the K-quant sub-block sizes of GGUF
// files (Q4_K: 4-bit groups of 32; Q6_K: 6-bit groups of 16), which take the
// per-step scale scheme of qlinear_forward.wgsl.
const GRIDS = [
  [4, 64],
  [2, 128],
  [3, 128],
  [3, 'channel'],
  [4, 32],
  [6, 16],
] as const;

// ggml's codebook layouts: vector length, table entries, index bits, signs, sub-block.
const CODEBOOKS = [
  { type: 'IQ2_XXS', dim: 8, size: 256, bits: 8, signed: true, group: 32 },
  { type: 'IQ2_S', dim: 8, size: 1024, bits: 16, signed: true, group: 16 },
  { type: 'IQ3_S', dim: 4, size: 512, bits: 16, signed: true, group: 32 },
  { type: 'IQ4_XS', dim: 1, size: 16, bits: 4, signed: false, group: 32 },
  { type: 'MXFP4', dim: 1, size: 16, bits: 4, signed: false, group: 32 },
] as const;

/** A random codebook tensor of a layout: every index and sign word random (indices reduced into the table). */
function randomCodebookTensor(l: (typeof CODEBOOKS)[number], O: number, I: number, seed: number) {
  const values = randomF32(l.size * l.dim, seed).map((v) => Math.round(v * 16) / 2);
  const q = emptyVqTensor(O, I, { name: `bench-${l.type}`, dim: l.dim as VqDim, size: l.size, values }, l.group, l.signed, l.bits as VqIndexBits);
  const r = randomF32(q.codes.length, seed + 1);
  // Random words; indices wider than the table (16-bit words for 512/1024 entries) masked down: size is a power of two.
  const iw = q.codes.length / O - (l.signed ? I / 32 : 0);
  for (let i = 0; i < q.codes.length; i++) {
    let w = Math.floor(((r[i] + 1) / 2) * 2 ** 32) >>> 0;
    if (l.bits === 16 && i % (q.codes.length / O) < iw) w = (w & (((l.size - 1) << 16) | (l.size - 1))) >>> 0;
    q.codes[i] = w;
  }
  q.scale.set(randomF32(q.scale.length, seed + 2).map((v) => 0.01 + Math.abs(v) * 0.01));
  return q;
}

export async function* qlinearBench(ctx: GpuContext) {
  const quick = process.env.SUB4_BENCH_QUICK === '1';
  for (const { T, I, O } of quick ? SHAPES.slice(0, 1) : SHAPES) {
    const wf = randomF32(O * I, 3);
    const x = GpuTensor.from(ctx, randomF32(T * I, 1), [T, I], 'f32');
    const dy = GpuTensor.from(ctx, randomF32(T * O, 2), [T, O], 'f32');
    const y = GpuTensor.empty(ctx, [T, O], 'f32');
    const dx = GpuTensor.empty(ctx, [T, I], 'f32');
    const wt = GpuTensor.from(ctx, wf, [O, I], 'f32');
    const flops = 2 * T * I * O;
    for (const [bits, group] of process.env.SUB4_BENCH_CODEBOOK_ONLY === '1' ? [] : GRIDS) {
      const wq = uploadQTensor(ctx, quantizeRtn(wf, O, I, { bits, groupSize: group }));
      const ds = GpuTensor.empty(ctx, wq.scale.shape, 'f32');
      const dm = GpuTensor.empty(ctx, wq.offset.shape, 'f32');
      ledgerOf(ctx).resetPeak();
      // 5 interleaved rounds: single timings on SwiftShader here spread by ±10 %.
      const rounds = await interleaved(
        ctx,
        {
          matmul_f32: () => matmul(ctx, y, x, wt),
          qlinear_forward: () => qlinearForward(ctx, y, x, wq, undefined, { f16: false }),
          ...(ctx.features.f16 ? { qlinear_forward_f16: () => qlinearForward(ctx, y, x, wq, undefined, { f16: true }) } : {}),
          qlinear_backward_input: () => qlinearBackward(ctx, dy, x, wq, { dx }),
          qlinear_backward_quant: () => qlinearBackward(ctx, dy, x, wq, { dscale: ds, doffset: dm }),
        },
        5,
      );
      const ms = fastest(rounds);
      const base = flops / (ms.matmul_f32 * 1e6);
      for (const [kernel, t] of Object.entries(ms)) {
        const gflops = flops / (t * 1e6);
        yield {
          bench: 'qlinear',
          kernel,
          bits,
          group,
          T,
          I,
          O,
          ms: +t.toFixed(2),
          gflops: +gflops.toFixed(4),
          baseline: 'matmul_f32',
          vs_baseline: +(gflops / base).toFixed(2),
          vs_baseline_paired: +pairedRatio(rounds.matmul_f32, rounds[kernel]).toFixed(2),
          peak_gpu_bytes: ledgerOf(ctx).peak,
        };
      }
      [ds, dm].forEach((t) => t.destroy());
      wq.destroy();
    }
    for (const l of CODEBOOKS) {
      const wq = uploadVqTensor(ctx, randomCodebookTensor(l, O, I, 5));
      const ds = GpuTensor.empty(ctx, wq.scale.shape, 'f32');
      const dm = GpuTensor.empty(ctx, wq.offset.shape, 'f32');
      ledgerOf(ctx).resetPeak();
      const rounds = await interleaved(
        ctx,
        {
          matmul_f32: () => matmul(ctx, y, x, wt),
          vqlinear_forward: () => qlinearForward(ctx, y, x, wq, undefined, { f16: false }),
          ...(ctx.features.f16 ? { vqlinear_forward_f16: () => qlinearForward(ctx, y, x, wq, undefined, { f16: true }) } : {}),
          vqlinear_backward_input: () => qlinearBackward(ctx, dy, x, wq, { dx }),
          vqlinear_backward_quant: () => qlinearBackward(ctx, dy, x, wq, { dscale: ds, doffset: dm }),
        },
        5,
      );
      const ms = fastest(rounds);
      const base = flops / (ms.matmul_f32 * 1e6);
      for (const [kernel, t] of Object.entries(ms)) {
        if (kernel === 'matmul_f32') continue; // printed with the scalar grids
        const gflops = flops / (t * 1e6);
        yield {
          bench: 'qlinear',
          kernel,
          type: l.type,
          dim: l.dim,
          index_bits: l.bits,
          signed: l.signed,
          group: l.group,
          T,
          I,
          O,
          ms: +t.toFixed(2),
          gflops: +gflops.toFixed(4),
          baseline: 'matmul_f32',
          vs_baseline: +(gflops / base).toFixed(2),
          vs_baseline_paired: +pairedRatio(rounds.matmul_f32, rounds[kernel]).toFixed(2),
          peak_gpu_bytes: ledgerOf(ctx).peak,
        };
      }
      [ds, dm].forEach((t) => t.destroy());
      wq.destroy();
    }
    [x, dy, y, dx, wt].forEach((t) => t.destroy());
  }
}
