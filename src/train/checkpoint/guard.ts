// The held-out guard (--early-stop N): stop when the held-out loss has not
// improved for N evaluations in a row, and remember which step was best so the
// run can end on that state rather than the last one. Pure bookkeeping on the
// CPU; its state travels in every checkpoint so a resumed run counts on.

export interface GuardState {
  /** Evaluations without improvement that end the run. */
  patience: number;
  /** Best held-out loss so far (the eval before training counts), or null before any eval. */
  best: number | null;
  bestStep: number;
  /** Evaluations since the best one. */
  since: number;
}

export function newGuard(patience: number): GuardState {
  if (!Number.isInteger(patience) || patience < 1) throw new RangeError(`early stop: patience ${patience} is not an integer ≥ 1`);
  return { patience, best: null, bestStep: 0, since: 0 };
}

/**
 * One held-out loss at `step`. 'best': a new best (strictly lower; a NaN never
 * is). 'stop': `patience` evaluations in a row without one. 'go': neither.
 */
export function observe(g: GuardState, step: number, loss: number): 'best' | 'stop' | 'go' {
  if (g.best === null || loss < g.best) {
    g.best = loss;
    g.bestStep = step;
    g.since = 0;
    return 'best';
  }
  g.since++;
  return g.since >= g.patience ? 'stop' : 'go';
}
