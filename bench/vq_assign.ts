// The learned-codebook k-means' nearest-entry search (vq_assign.wgsl) at
// table sizes 256 and 4096, d = 8, next to f32 matmuls of the same FLOPs in
// the same run (2·N·C·d: one multiply-add per vector, entry and element):
//  - matmul_xct: the distance matmul itself, X [N, d] · Tᵀ → [N, C] (what a
//    matmul-then-argmin would run first; K = d is short, and it writes N·C
//    values the fused search never stores);
//  - matmul_f32: a well-shaped matmul, T = 128, I = N·d / 128, O = C.
// `vs_baseline` = this kernel's GFLOP/s ÷ matmul_f32's (bests of 3
// interleaved rounds); `vs_baseline_paired` the median of the rounds' ratios;
// `vs_xct` against the distance matmul. Two searches per table size: one
// weight row (P = 1, the encoder without importance: ‖c‖²_w precomputed per
// tile) and per-column importance over rows of 1024 weights (P = 128: the
// weighted norm computed inline).
import type { GpuContext } from '../src/gpu/device.ts';
import { GpuTensor } from '../src/gpu/buffers.ts';
import { matmul } from '../src/gpu/kernels/matmul.ts';
import { vqAssign } from '../src/gpu/kernels/vq_assign.ts';
import { randomF32 } from '../src/gpu/random.ts';
import { fastest, interleaved, pairedRatio } from './measure.ts';

const N = 8192; // vectors: 64 Ki weights at d = 8
const D = 8;

export async function* vqAssignBench(ctx: GpuContext) {
  for (const C of [256, 4096]) {
    const x = GpuTensor.from(ctx, randomF32(N * D, 1), [N, D], 'f32');
    const table = GpuTensor.from(ctx, randomF32(C * D, 2), [C, D], 'f32');
    const w = GpuTensor.from(ctx, new Float32Array(D).fill(1), [1, D], 'f32');
    const wi = GpuTensor.from(ctx, randomF32(128 * D, 5).map((v) => 1.5 + v), [128, D], 'f32');
    const out = GpuTensor.empty(ctx, [N], 'u32');
    const xct = GpuTensor.empty(ctx, [N, C], 'f32');
    const I = (N * D) / 128;
    const mx = GpuTensor.from(ctx, randomF32(128 * I, 3), [128, I], 'f32');
    const mw = GpuTensor.from(ctx, randomF32(C * I, 4), [C, I], 'f32');
    const my = GpuTensor.empty(ctx, [128, C], 'f32');
    const rounds = await interleaved(
      ctx,
      {
        matmul_f32: () => void matmul(ctx, my, mx, mw),
        matmul_xct: () => void matmul(ctx, xct, x, table),
        vq_assign: () => vqAssign(ctx, out, x, table, w),
        vq_assign_weighted: () => vqAssign(ctx, out, x, table, wi),
      },
      3,
      150,
    );
    const ms = fastest(rounds);
    const flops = 2 * N * C * D;
    const gf = (t: number) => flops / (t * 1e6);
    for (const [kernel, P] of [['vq_assign', 1], ['vq_assign_weighted', 128]] as const)
      yield {
        bench: 'vq_assign',
        kernel,
        N,
        C,
        d: D,
        P,
        ms: +ms[kernel].toFixed(3),
        gflops: +gf(ms[kernel]).toFixed(4),
        vectors_per_s: Math.round(N / (ms[kernel] / 1e3)),
        matmul_f32_ms: +ms.matmul_f32.toFixed(3),
        matmul_xct_ms: +ms.matmul_xct.toFixed(3),
        baseline: 'matmul_f32',
        vs_baseline: +(ms.matmul_f32 / ms[kernel]).toFixed(2),
        vs_baseline_paired: +pairedRatio(rounds.matmul_f32, rounds[kernel]).toFixed(2),
        vs_xct: +(ms.matmul_xct / ms[kernel]).toFixed(2),
      };
    [x, table, w, wi, out, xct, mx, mw, my].forEach((t) => t.destroy());
  }
}
