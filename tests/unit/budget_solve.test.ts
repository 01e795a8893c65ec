// The budget knapsack (src/train/budget/solve.ts) against brute force on small
// random instances: the DP's optimum is exact; an infeasible budget is refused
// naming the minimum bits per weight.
import { describe, expect, it } from 'vitest';
import { BudgetError, minimumBits, solveBudget, type KnapsackItem } from '../../src/train/budget/solve.ts';
import { rng } from '../../src/gpu/random.ts';

function brute(groups: KnapsackItem[][], maxBytes: number): { error: number; bytes: number } | null {
  let best: { error: number; bytes: number } | null = null;
  const walk = (k: number, bytes: number, error: number) => {
    if (bytes > maxBytes) return;
    if (k === groups.length) {
      if (!best || error < best.error) best = { error, bytes };
      return;
    }
    for (const c of groups[k]) walk(k + 1, bytes + c.bytes, error + c.error);
  };
  walk(0, 0, 0);
  return best;
}

describe('solveBudget', () => {
  it('finds the exact optimum of random instances (against brute force)', () => {
    const u = rng(12345);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(u() * 5);
      const groups: KnapsackItem[][] = Array.from({ length: n }, () =>
        Array.from({ length: 1 + Math.floor(u() * 5) }, () => ({ bytes: 1 + Math.floor(u() * 40), error: Math.round(u() * 1000) / 10 })),
      );
      const least = groups.reduce((s, g) => s + Math.min(...g.map((c) => c.bytes)), 0);
      const most = groups.reduce((s, g) => s + Math.max(...g.map((c) => c.bytes)), 0);
      const maxBytes = least + Math.floor(u() * (most - least + 1));
      const want = brute(groups, maxBytes)!;
      const got = solveBudget(groups, maxBytes, 100);
      expect(got.bytes).toBeLessThanOrEqual(maxBytes);
      expect(got.error).toBeCloseTo(want.error, 9);
      // The reported totals are those of the chosen candidates.
      expect(got.choice.reduce((s, c, k) => s + groups[k][c].bytes, 0)).toBe(got.bytes);
      expect(got.choice.reduce((s, c, k) => s + groups[k][c].error, 0)).toBeCloseTo(got.error, 9);
    }
  });

  it('refuses a budget below the cheapest plan, naming the minimum bits per weight', () => {
    const groups = [
      [{ bytes: 10, error: 1 }, { bytes: 20, error: 0.5 }],
      [{ bytes: 6, error: 2 }, { bytes: 12, error: 1 }],
    ];
    // 32 weights: the cheapest plan is 16 bytes = 4 bits per weight.
    expect(minimumBits(groups, 32)).toBe(4);
    expect(() => solveBudget(groups, 15, 32)).toThrow(BudgetError);
    expect(() => solveBudget(groups, 15, 32)).toThrow(/below the cheapest plan, which needs 4\.0000 bits per weight/);
    expect(solveBudget(groups, 16, 32)).toEqual({ choice: [0, 0], bytes: 16, error: 3 });
    expect(solveBudget(groups, 22, 32)).toEqual({ choice: [0, 1], bytes: 22, error: 2 });
  });
});
