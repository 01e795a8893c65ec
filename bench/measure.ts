// Interleaved timing: every case of a comparison is timed once per round, for
// several rounds. Two summaries of the same rounds:
//  - best: each case keeps its fastest round. Other load on the machine only
//    ever slows a run down, so the minimum is the least noisy single figure.
//  - paired ratio: per round, baseline time ÷ case time (both timed back to
//    back, under the same load), and the median of those ratios. The ratio of
//    two separate minima carries both minima's luck; on the 2-core machines
//    here single timings spread by ±10 %, and the paired median is the steadier
//    estimate of how two kernels compare.
import type { GpuContext } from '../src/gpu/device.ts';
import { timeGpu } from '../src/gpu/selftest.ts';

/** Milliseconds per run of each case, one entry per round. */
export async function interleaved(ctx: GpuContext, cases: Record<string, () => void>, rounds = 3, minMs = 200): Promise<Record<string, number[]>> {
  const ms: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++)
    for (const [name, run] of Object.entries(cases)) (ms[name] ??= []).push(await timeGpu(ctx, run, minMs, 10));
  return ms;
}

export async function bestOf(ctx: GpuContext, cases: Record<string, () => void>, rounds = 3, minMs = 200): Promise<Record<string, number>> {
  return fastest(await interleaved(ctx, cases, rounds, minMs));
}

export function fastest(ms: Record<string, number[]>): Record<string, number> {
  return Object.fromEntries(Object.entries(ms).map(([name, t]) => [name, Math.min(...t)]));
}

/** Median over rounds of baseline time ÷ case time (> 1: the case is faster). */
export function pairedRatio(base: number[], times: number[]): number {
  const r = times.map((t, i) => base[i] / t).sort((a, b) => a - b);
  const h = r.length >> 1;
  return r.length % 2 ? r[h] : (r[h - 1] + r[h]) / 2;
}
