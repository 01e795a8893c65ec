// Learning-rate schedules: pure functions of the optimizer step (0-based count
// of optimizer steps, not micro-batches). Both start with a linear warmup that
// never hands out lr = 0 (step s < W gives peak·(s + 1)/(W + 1), as nanoGPT),
// so the first update already moves the parameters, and reach `peak` at s = W:
//   cosine    W ≤ s < total: floor + (peak − floor)·½(1 + cos(π·(s − W)/(total − W))),
//             s ≥ total: floor (Hugging Face's convention: the last step, s = total − 1,
//             is one step short of the floor)
//   constant  s ≥ W: peak
// The optimizer multiplies this by its own factor, lowered after non-finite steps.

export type LrSchedule =
  | { kind: 'cosine'; peak: number; warmupSteps: number; totalSteps: number; floor: number }
  | { kind: 'constant'; peak: number; warmupSteps: number };

function bad(what: string): never {
  throw new RangeError(`learning-rate schedule: ${what}`);
}

const isCount = (n: number) => Number.isInteger(n) && n >= 0;
const isRate = (x: number) => Number.isFinite(x) && x >= 0;

/** Throws a RangeError naming the first field that cannot describe a schedule. */
export function checkSchedule(s: LrSchedule): void {
  if (!isRate(s.peak)) bad(`peak ${s.peak} is not a finite number ≥ 0`);
  if (!isCount(s.warmupSteps)) bad(`warmupSteps ${s.warmupSteps} is not an integer ≥ 0`);
  if (s.kind === 'cosine') {
    if (!isCount(s.totalSteps)) bad(`totalSteps ${s.totalSteps} is not an integer ≥ 0`);
    if (s.totalSteps < s.warmupSteps) bad(`totalSteps ${s.totalSteps} is shorter than warmupSteps ${s.warmupSteps}`);
    if (!isRate(s.floor) || s.floor > s.peak) bad(`floor ${s.floor} is not in [0, peak = ${s.peak}]`);
  } else if (s.kind !== 'constant') bad(`unknown kind ${(s as { kind: unknown }).kind}`);
}

/** The learning rate at optimizer step `step` (0-based). */
export function learningRate(s: LrSchedule, step: number): number {
  checkSchedule(s);
  if (!isCount(step)) bad(`step ${step} is not an integer ≥ 0`);
  const W = s.warmupSteps;
  if (step < W) return (s.peak * (step + 1)) / (W + 1);
  if (s.kind === 'constant') return s.peak;
  if (step >= s.totalSteps) return s.floor;
  const progress = (step - W) / (s.totalSteps - W);
  return s.floor + (s.peak - s.floor) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
