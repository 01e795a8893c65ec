// Interleaved timing: every case of a comparison is timed once per round, for
// several rounds, and each keeps its best round. Other load on the machine only
// ever slows a run down, so the minimum is the least noisy estimate, and
// interleaving keeps a slow stretch from landing on one case only.
import type { GpuContext } from '../src/gpu/device.ts';
import { timeGpu } from '../src/gpu/selftest.ts';

export async function bestOf(ctx: GpuContext, cases: Record<string, () => void>, rounds = 3, minMs = 200): Promise<Record<string, number>> {
  const best: Record<string, number> = {};
  for (let r = 0; r < rounds; r++)
    for (const [name, run] of Object.entries(cases)) {
      const ms = await timeGpu(ctx, run, minMs, 10);
      best[name] = Math.min(best[name] ?? Infinity, ms);
    }
  return best;
}
