// The matmul self-test shown by `sub4 gpu` and the app's GPU panel: one linear
// layer shaped product on the device, checked against the f64 CPU reference,
// then timed. It proves the whole path (loader, pipeline, upload, dispatch,
// readback) and gives a first speed figure.
import type { GpuContext } from './device.ts';
import { GpuTensor, ledgerOf } from './buffers.ts';
import { compareArrays, normRelError } from './compare.ts';
import { matmul, type MatmulVariant } from './kernels/matmul.ts';
import { randomF32 } from './random.ts';
import { matmulRef } from '../ref/matmul.ts';

export interface SelfTestResult {
  shape: { T: number; I: number; O: number };
  variant: MatmulVariant;
  /** Max |gpu − ref| / max |ref|: the pass criterion (≤ 1e-4). */
  maxRelError: number;
  maxAbsError: number;
  passed: boolean;
  gflops: number;
  msPerRun: number;
  peakGpuBytes: number;
}

export const SELFTEST_TOLERANCE = 1e-4;

/** Time `run` (which encodes into a fresh encoder each call) until at least `minMs` have passed. */
export async function timeGpu(ctx: GpuContext, run: () => void, minMs = 200, maxRuns = 50): Promise<number> {
  run();
  await ctx.device.queue.onSubmittedWorkDone();
  let runs = 0;
  const t0 = performance.now();
  while (runs < maxRuns) {
    run();
    runs++;
    if (runs % 2 === 0 || runs === maxRuns) {
      await ctx.device.queue.onSubmittedWorkDone();
      if (performance.now() - t0 >= minMs) break;
    }
  }
  await ctx.device.queue.onSubmittedWorkDone();
  return (performance.now() - t0) / runs;
}

export async function matmulSelfTest(
  ctx: GpuContext,
  shape = { T: 64, I: 256, O: 256 },
  variant: MatmulVariant | 'auto' = 'auto',
): Promise<SelfTestResult> {
  const { T, I, O } = shape;
  const ledger = ledgerOf(ctx);
  ledger.resetPeak();
  const xs = randomF32(T * I, 1);
  const ws = randomF32(O * I, 2);
  const x = GpuTensor.from(ctx, xs, [T, I], 'f32', 'selftest.x');
  const w = GpuTensor.from(ctx, ws, [O, I], 'f32', 'selftest.w');
  const y = GpuTensor.empty(ctx, [T, O], 'f32', 'selftest.y');
  try {
    const used = matmul(ctx, y, x, w, { variant });
    const got = await y.read();
    const want = matmulRef(xs, ws, T, I, O);
    const maxRelError = normRelError(got, want);
    const { maxAbs } = compareArrays(got, want);
    const ms = await timeGpu(ctx, () => matmul(ctx, y, x, w, { variant: used }));
    return {
      shape,
      variant: used,
      maxRelError,
      maxAbsError: maxAbs,
      passed: maxRelError <= SELFTEST_TOLERANCE,
      gflops: (2 * T * I * O) / (ms * 1e6),
      msPerRun: ms,
      peakGpuBytes: ledger.peak,
    };
  } finally {
    x.destroy();
    w.destroy();
    y.destroy();
  }
}
