// Error statistics between a GPU result and an f64 reference; used by tests,
// the self-test and benchmarks so every report prints the same figures.
export interface ErrorStats {
  maxAbs: number;
  /** max |a-b| / max(|b|, floor): relative error that ignores values near zero. */
  maxRel: number;
  /** Index of the element with the largest relative error (-1 when equal). */
  worst: number;
  n: number;
}

export function compareArrays(got: ArrayLike<number>, want: ArrayLike<number>, floor = 1e-6): ErrorStats {
  if (got.length !== want.length) throw new RangeError(`compare: lengths differ (${got.length} vs ${want.length})`);
  let maxAbs = 0;
  let maxRel = 0;
  let worst = -1;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    const r = d / Math.max(Math.abs(want[i]), floor);
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Infinity : d;
    if (!(r <= maxRel)) {
      maxRel = Number.isNaN(r) ? Infinity : r;
      worst = i;
    }
  }
  return { maxAbs, maxRel, worst, n: got.length };
}

/** Relative error scaled by the largest reference magnitude, robust to cancellation in sums. */
export function normRelError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < got.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return Number.isNaN(maxAbs) ? Infinity : maxAbs / Math.max(scale, 1e-30);
}
