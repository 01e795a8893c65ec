// DoRA's per-step costs (src/model/dora.ts) at real model shapes (T = 128;
// SmolLM2-135M's 576→1536 and 1536→576) on a 4-bit g64 base, rank 16, each
// next to the layer's own LoRA forward over the same T tokens (`baseline`):
//   dora_norms        n from ‖W_o‖², A·Wᵀ (the quantized forward on A's R rows) and A·Aᵀ: what sub4 runs
//   dense_merge       the alternative's first half alone: W dequantized to [O, I] f32 and s·B·A added
//                     (a row-norm pass would come on top), with its O·I·4-byte temporary
//   dora_scale        the forward's extra pass, y ← y·m/n
//   dora_backward     the backward's extra work: Z recomputed (f32 forward) and dZ, dm
// `temp_bytes`: the temporaries each way of forming n needs (R·O + R² floats vs O·I).
import type { GpuContext } from '../src/gpu/device.ts';
import { GpuTensor } from '../src/gpu/buffers.ts';
import { dequantizeGpu, qlinearForward } from '../src/gpu/kernels/qlinear.ts';
import { matmulT } from '../src/gpu/kernels/matmul_strided.ts';
import { doraScale } from '../src/gpu/kernels/dora.ts';
import { submit } from '../src/gpu/pipelines.ts';
import { uploadQTensor } from '../src/gpu/qtensor_gpu.ts';
import { randomF32 } from '../src/gpu/random.ts';
import { quantizeRtn } from '../src/quant/quantize/rtn.ts';
import { doraBackwardStep, doraNorms, rowSumSquares, type DoraTrain } from '../src/model/dora.ts';
import type { GpuLinear } from '../src/model/linear.ts';
import { fastest, interleaved, pairedRatio } from './measure.ts';

const SHAPES = [
  { T: 128, I: 576, O: 1536 },
  { T: 128, I: 1536, O: 576 },
];
const R = 16;

export async function* doraBench(ctx: GpuContext) {
  for (const { T, I, O } of process.env.SUB4_BENCH_QUICK === '1' ? SHAPES.slice(0, 1) : SHAPES) {
    const q = quantizeRtn(randomF32(O * I, 3), O, I, { bits: 4, groupSize: 64 });
    const lin: GpuLinear = { kind: 'quant', rows: O, cols: I, w: uploadQTensor(ctx, q), bias: null, type: '4-bit g64', ggmlType: null, q };
    const t = (n: number[], seed: number) => GpuTensor.from(ctx, randomF32(n.reduce((a, b) => a * b, 1), seed), n, 'f32');
    const lora = { a: t([R, I], 4), b: t([O, R], 5), scale: 2 };
    const vec = () => GpuTensor.from(ctx, new Float32Array(O).fill(1), [O], 'f32');
    const dora: DoraTrain = { m: vec(), dm: vec(), n: vec(), wsq: vec() };
    rowSumSquares(ctx, lin, dora.wsq);
    const x = t([T, I], 1), dy = t([T, O], 2), y = GpuTensor.empty(ctx, [T, O], 'f32');
    const wd = GpuTensor.empty(ctx, [O, I], 'f32');
    const once = (f: (enc: GPUCommandEncoder) => void) => () => {
      const enc = ctx.device.createCommandEncoder();
      f(enc);
      submit(ctx, enc);
    };
    const rounds = await interleaved(
      ctx,
      {
        layer_forward: () => qlinearForward(ctx, y, x, lin.w, lora, { f16: false }),
        dora_norms: once((enc) => doraNorms(ctx, enc, lin, lora, dora)),
        dense_merge: () => {
          dequantizeGpu(ctx, lin.w, wd);
          matmulT(ctx, 'nn', wd, lora.b, lora.a, { alpha: lora.scale, beta: 1 });
        },
        dora_scale: () => doraScale(ctx, y, dora.m, dora.n),
        dora_backward: once((enc) => void doraBackwardStep(ctx, enc, lin, x, dy, lora, dora, false)),
      },
      5,
    );
    const ms = fastest(rounds);
    for (const [kernel, v] of Object.entries(ms)) {
      if (kernel === 'layer_forward') continue;
      yield {
        bench: 'dora', kernel, T, I, O, R, ms: +v.toFixed(3), baseline: 'layer_forward', baseline_ms: +ms.layer_forward.toFixed(3),
        vs_baseline: +(v / ms.layer_forward).toFixed(3), vs_baseline_paired: +(1 / pairedRatio(rounds.layer_forward, rounds[kernel])).toFixed(3),
        ...(kernel === 'dora_norms' ? { temp_bytes: 4 * (R * O + R * R) } : kernel === 'dense_merge' ? { temp_bytes: 4 * O * I } : {}),
      };
    }
    [lin.w, lora.a, lora.b, dora.m, dora.dm, dora.n, dora.wsq, x, dy, y, wd].forEach((b) => b.destroy());
  }
}
