// LQ-LoRA under a bit budget, step 2: choose one candidate per matrix so that
// Σ bytes ≤ budget (bits per weight) · Σ weights / 8 and Σ error is least — the
// multiple-choice knapsack LQ-LoRA (arXiv 2311.12023 §3.2) writes as an integer
// linear program. It is solved EXACTLY here by dynamic programming over Pareto
// fronts, not with an ILP solver:
//   F_0 = {(0 bytes, 0 error)};  F_k = Pareto(F_{k−1} ⊕ candidates of matrix k), pruned to ≤ budget,
// where Pareto keeps the points no other point beats in both bytes and error
// (fewer or equal bytes AND less or equal error). A point dropped this way can
// never be part of a better plan: any completion of it completes its dominator
// at no more bytes and no more error, so the best point of F_n is the optimum
// of the whole program (the standard DP of the multiple-choice knapsack, with
// the byte axis kept sparse instead of a dense byte grid). Why fronts and not
// a byte grid: the bytes are exact integers in the millions for real matrices,
// and a dense grid of budget bytes × matrices is far larger than the set of
// totals that are actually reachable and non-dominated (matrices of one shape
// share their sizes, so the fronts stay small: at most one point per distinct
// reachable byte total). No MILP package is needed for an exact optimum, and
// the DP is deterministic (ties go to the earlier candidate).
import { Sub4Error } from '../../base/errors.ts';

export interface KnapsackItem {
  bytes: number;
  error: number;
}

/** The budget is below the cheapest plan; names the minimum bits per weight. */
export class BudgetError extends Sub4Error {}

export interface Solution {
  /** Index of the chosen candidate, per matrix. */
  choice: number[];
  bytes: number;
  error: number;
}

/** Bits per weight of `bytes` over `weights` values. */
export const bitsPerWeight = (bytes: number, weights: number) => (8 * bytes) / weights;

/** The least budget (bits per weight) any plan meets: every matrix at its smallest candidate. */
export function minimumBits(groups: readonly (readonly KnapsackItem[])[], weights: number): number {
  return bitsPerWeight(groups.reduce((s, g) => s + Math.min(...g.map((c) => c.bytes)), 0), weights);
}

/**
 * Exact minimum-error plan with Σ bytes ≤ maxBytes (see the file comment).
 * `weights`: the number of weight values the budget is counted over (for the message).
 */
export function solveBudget(groups: readonly (readonly KnapsackItem[])[], maxBytes: number, weights: number, what = 'the model'): Solution {
  groups.forEach((g, i) => {
    if (g.length === 0) throw new BudgetError(`${what}: matrix ${i} has no candidate configuration`);
  });
  const least = groups.reduce((s, g) => s + Math.min(...g.map((c) => c.bytes)), 0);
  if (least > maxBytes)
    throw new BudgetError(
      `${what}: a budget of ${bitsPerWeight(maxBytes, weights).toFixed(4)} bits per weight is below the cheapest plan, which needs ${bitsPerWeight(least, weights).toFixed(4)} bits per weight (${least} bytes for ${weights} weights); raise --budget to at least ${(Math.ceil(bitsPerWeight(least, weights) * 1e4) / 1e4).toFixed(4)}`,
    );
  // Bytes the matrices after k need at least: prune points that cannot be completed within the budget.
  const restMin = new Array<number>(groups.length + 1).fill(0);
  for (let k = groups.length - 1; k >= 0; k--) restMin[k] = restMin[k + 1] + Math.min(...groups[k].map((c) => c.bytes));
  type Point = { bytes: number; error: number; prev: number; pick: number };
  const fronts: Point[][] = [];
  let front: Point[] = [{ bytes: 0, error: 0, prev: -1, pick: -1 }];
  groups.forEach((g, k) => {
    const next: Point[] = [];
    front.forEach((p, pi) =>
      g.forEach((c, ci) => {
        const bytes = p.bytes + c.bytes;
        if (bytes + restMin[k + 1] <= maxBytes) next.push({ bytes, error: p.error + c.error, prev: pi, pick: ci });
      }),
    );
    next.sort((a, b) => a.bytes - b.bytes || a.error - b.error || a.prev - b.prev || a.pick - b.pick);
    const kept: Point[] = [];
    for (const p of next) if (kept.length === 0 || p.error < kept[kept.length - 1].error) kept.push(p);
    fronts.push(kept);
    front = kept;
  });
  // The last point of the front has the least error (errors fall as bytes rise along it).
  let at = front.length - 1;
  const best = front[at];
  const choice = new Array<number>(groups.length);
  for (let k = groups.length - 1; k >= 0; k--) {
    const p = fronts[k][at];
    choice[k] = p.pick;
    at = p.prev;
  }
  return { choice, bytes: best.bytes, error: best.error };
}
