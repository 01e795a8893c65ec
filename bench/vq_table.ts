// ReALLM's learned-codebook layers (src/train/reallm.ts: unsigned, one scale
// per output row, one table per matrix) and what training them costs, each next
// to the f32 matmul Y = X·Wᵀ of the same shape in the same run (`vs_baseline`:
// > 1 faster, < 1 slower; `vs_baseline_paired` the median of the rounds' own
// ratios, bench/measure.ts):
//   vqlinear_forward        the learned-table forward (kernels/vqlinear.ts)
//   vqlinear_backward_input dX = dY·W, W read through the table
//   vqlinear_backward_scale the row scales' gradient (codebook training's 'scale' half)
//   vqtable_backward        the table gradient as training records it (src/model/codebook_train.ts):
//                           dW = dYᵀ·X into a scratch [O, I], then the gather of
//                           vqlinear_backward_table.wgsl along the inverted index
//   dw_matmul               that dW matmul alone (vqtable_backward's `vs_dw_matmul_paired`:
//                           the gather's share; ≈ 1 when the matmul is the cost)
// bench/qlinear.ts times ggml's fixed, signed grids (IQ2_XXS …); these are the
// learned layouts ReALLM picks: --bits 2 on rows of a multiple of 8 (d = 8,
// k = 16: 65536 entries) and on stories260K-like rows (d = 4, k = 8).
// SUB4_BENCH_QUICK=1: the first shape and layout only.
import type { GpuContext } from '../src/gpu/device.ts';
import { GpuTensor } from '../src/gpu/buffers.ts';
import { matmul } from '../src/gpu/kernels/matmul.ts';
import { matmulT } from '../src/gpu/kernels/matmul_strided.ts';
import { qlinearBackward, qlinearForward } from '../src/gpu/kernels/qlinear.ts';
import { tableUses, uploadTableUses, vqTableBackward } from '../src/gpu/kernels/vqtable.ts';
import { uploadVqTensor } from '../src/gpu/vq_gpu.ts';
import { randomF32 } from '../src/gpu/random.ts';
import { emptyVqTensor, setIndex, type VqDim, type VqIndexBits } from '../src/quant/vq/vqtensor.ts';
import { fastest, interleaved, pairedRatio } from './measure.ts';

const SHAPES = [
  { T: 128, I: 576, O: 1536 },
  { T: 128, I: 1536, O: 576 },
];
const LAYOUTS = [
  { dim: 8, bits: 16 },
  { dim: 4, bits: 8 },
] as const;

/** A learned layout with random entries, indices uniform over the table and row scales near ReALLM's. */
function randomLearned(O: number, I: number, dim: VqDim, bits: VqIndexBits, seed: number) {
  const size = 2 ** bits;
  const q = emptyVqTensor(O, I, { name: 'learned', dim, size, values: randomF32(size * dim, seed) }, I, false, bits);
  const r = randomF32(O * (I / dim), seed + 1);
  for (let o = 0, n = 0; o < O; o++) for (let v = 0; v < I / dim; v++) setIndex(q, o, v, Math.min(size - 1, Math.floor(((r[n++] + 1) / 2) * size)));
  q.scale.set(randomF32(O, seed + 2).map((v) => 0.01 + Math.abs(v) * 0.01));
  return q;
}

export async function* vqTableBench(ctx: GpuContext) {
  const quick = process.env.SUB4_BENCH_QUICK === '1';
  for (const { T, I, O } of quick ? SHAPES.slice(0, 1) : SHAPES) {
    const t = (shape: number[], seed: number) => GpuTensor.from(ctx, randomF32(shape[0] * shape[1], seed), shape, 'f32');
    const x = t([T, I], 1), dy = t([T, O], 2), wt = t([O, I], 3);
    const y = GpuTensor.empty(ctx, [T, O], 'f32'), dx = GpuTensor.empty(ctx, [T, I], 'f32'), dw = GpuTensor.empty(ctx, [O, I], 'f32');
    const ds = GpuTensor.empty(ctx, [O, 1], 'f32'), dm = GpuTensor.empty(ctx, [O, 1], 'f32');
    for (const { dim, bits } of quick ? LAYOUTS.slice(0, 1) : LAYOUTS) {
      const q = randomLearned(O, I, dim, bits, 5);
      const wq = uploadVqTensor(ctx, q);
      const uses = uploadTableUses(ctx, tableUses(q));
      const dtable = GpuTensor.empty(ctx, [...wq.vq!.table.shape], 'f32');
      const rounds = await interleaved(
        ctx,
        {
          matmul_f32: () => matmul(ctx, y, x, wt),
          vqlinear_forward: () => qlinearForward(ctx, y, x, wq, undefined, { f16: false }),
          ...(ctx.features.f16 ? { vqlinear_forward_f16: () => qlinearForward(ctx, y, x, wq, undefined, { f16: true }) } : {}),
          vqlinear_backward_input: () => qlinearBackward(ctx, dy, x, wq, { dx }),
          vqlinear_backward_scale: () => qlinearBackward(ctx, dy, x, wq, { dscale: ds, doffset: dm }),
          vqtable_backward: () => vqTableBackward(ctx, dy, x, wq, uses, dw, dtable),
          dw_matmul: () => matmulT(ctx, 'tn', dw, dy, x),
        },
        5,
      );
      const ms = fastest(rounds);
      for (const [kernel, v] of Object.entries(ms)) {
        if (kernel === 'matmul_f32') continue;
        yield {
          bench: 'vq_table', kernel, dim, index_bits: bits, entries: 2 ** bits, T, I, O,
          ms: +v.toFixed(3), baseline: 'matmul_f32', baseline_ms: +ms.matmul_f32.toFixed(3),
          vs_baseline: +(ms.matmul_f32 / v).toFixed(3), vs_baseline_paired: +pairedRatio(rounds.matmul_f32, rounds[kernel]).toFixed(3),
          // ≈ 1: the gather is a small part of the table gradient; the dW matmul is the cost.
          ...(kernel === 'vqtable_backward' ? { vs_dw_matmul_paired: +pairedRatio(rounds.dw_matmul, rounds[kernel]).toFixed(3) } : {}),
        };
      }
      [dtable, uses].forEach((b) => b.destroy());
      wq.destroy();
    }
    [x, dy, wt, y, dx, dw, ds, dm].forEach((b) => b.destroy());
  }
}
