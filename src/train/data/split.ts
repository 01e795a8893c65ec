// Train / held-out splits and seeded shuffles (mulberry32 from src/gpu/random.ts),
// so a run can be replayed exactly from its seed.
//   plain text: positional: the first (1 − f) of the text trains, the last f is held
//               out (issue 6's quality protocol), cut at a line boundary
//   rows:       shuffled with the seed, then the last f of the shuffled rows held out
import { rng } from '../../gpu/random.ts';

export function checkFraction(evalFraction: number): void {
  if (!(evalFraction >= 0 && evalFraction < 1)) throw new RangeError(`evalFraction ${evalFraction} must be in [0, 1)`);
}

/** Fisher–Yates with a seeded generator: the same seed gives the same order. */
export function permutation(n: number, seed: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const r = rng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

export function shuffled<T>(items: readonly T[], seed: number): T[] {
  return Array.from(permutation(items.length, seed), (i) => items[i]);
}

/**
 * How many of n rows are held out: round(n·f), but at least one when f > 0 and
 * n ≥ 2 (a held-out set of zero rows measures nothing), and never all of them.
 */
export function evalCount(n: number, evalFraction: number): number {
  checkFraction(evalFraction);
  if (evalFraction === 0 || n < 2) return 0;
  return Math.min(n - 1, Math.max(1, Math.round(n * evalFraction)));
}

/** The first rows train, the last evalCount(n, f) rows are held out. */
export function splitTail<T>(items: readonly T[], evalFraction: number): { train: T[]; eval: T[] } {
  const k = evalCount(items.length, evalFraction);
  return { train: items.slice(0, items.length - k), eval: items.slice(items.length - k) };
}

/**
 * Character offset where the held-out part of a text starts: the start of the
 * first line at or after (1 − f)·length (or the last line start before it when
 * no line starts after it; the exact offset in a text without line breaks).
 * Returns text.length when f = 0.
 */
export function textCut(text: string, evalFraction: number): number {
  checkFraction(evalFraction);
  if (evalFraction === 0) return text.length;
  const target = Math.floor(text.length * (1 - evalFraction));
  const next = text.indexOf('\n', target > 0 ? target - 1 : 0);
  if (next >= 0 && next + 1 < text.length) return next + 1;
  const prev = text.lastIndexOf('\n', target - 1);
  return prev >= 0 ? prev + 1 : target;
}
