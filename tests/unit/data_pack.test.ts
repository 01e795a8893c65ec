// Packing invariants on random examples (every window has T inputs, targets are the
// inputs shifted by one, masks travel with their targets, no example is split when
// it fits, every loss token lands in exactly one window), and the seeded shuffle and
// train / held-out splits.
import { describe, expect, test } from 'vitest';
import { rng } from '../../src/gpu/random.ts';
import { packWindows, reorderWindows, windowAt, type PackMode, type Windows } from '../../src/train/data/pack.ts';
import { evalCount, permutation, shuffled, splitTail, textCut } from '../../src/train/data/split.ts';
import type { TokenizedExample } from '../../src/train/data/types.ts';

const PAD = 0;

/** Random examples: ids ≥ 1 (so padding is recognizable), mask[0] = 0, random loss spans. */
function randomExamples(n: number, maxLen: number, seed: number): TokenizedExample[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, k) => {
    const len = 1 + Math.floor(r() * maxLen);
    const ids = Array.from({ length: len }, () => 1 + Math.floor(r() * 1000));
    const mask = Uint8Array.from(ids, (_, j) => (j > 0 && r() < 0.6 ? 1 : 0));
    return { line: k + 1, index: k, ids, mask };
  });
}

const lossOf = (ex: readonly TokenizedExample[]) => ex.reduce((s, e) => s + e.mask.reduce((a, m) => a + m, 0), 0);

function checkShape(w: Windows, T: number): void {
  expect(w.seqLen).toBe(T);
  for (const a of [w.inputs, w.targets, w.mask, w.segment]) expect(a.length).toBe(w.count * T);
  for (let i = 0; i < w.count; i++) {
    const x = windowAt(w, i);
    // Targets are the inputs shifted by one inside a window.
    for (let t = 0; t + 1 < T; t++) expect(x.targets[t]).toBe(x.inputs[t + 1]);
    // Padding is never in the loss.
    for (let t = 0; t < T; t++) if (x.targets[t] === PAD) expect(x.mask[t]).toBe(0);
  }
}

describe('concat', () => {
  test.each([1, 2, 7, 16])('T=%i: the stream cut every T tokens, windows overlapping by one token', (T) => {
    const ex = randomExamples(40, 30, T);
    const stream = ex.flatMap((e) => e.ids);
    const mstream = ex.flatMap((e) => [...e.mask]);
    const w = packWindows(ex, T, 'concat', PAD);
    checkShape(w, T);
    expect(w.count).toBe(Math.ceil((stream.length - 1) / T));
    for (let i = 0; i < w.count; i++) {
      const x = windowAt(w, i);
      for (let t = 0; t < T; t++) {
        const s = i * T + t;
        if (s + 1 >= stream.length) {
          expect([x.targets[t], x.mask[t]]).toEqual([PAD, 0]);
          continue;
        }
        expect([x.inputs[t], x.targets[t], x.mask[t]]).toEqual([stream[s], stream[s + 1], mstream[s + 1]]);
      }
    }
    expect(w.lossTokens).toBe(lossOf(ex));
  });
});

describe('packed', () => {
  test.each([4, 9, 32])('T=%i: whole examples when they fit, split only when longer than T + 1', (T) => {
    const ex = randomExamples(60, 2 * T, 100 + T);
    const w = packWindows(ex, T, 'packed', PAD);
    checkShape(w, T);
    expect(w.lossTokens).toBe(lossOf(ex));
    let fitting = 0;
    ex.forEach((e, k) => {
      // Where example k's tokens sit: (window, position) of each input token with its segment id.
      const at: [number, number][] = [];
      for (let i = 0; i < w.count; i++) for (let t = 0; t < T; t++) if (w.segment[i * T + t] === k + 1) at.push([i, t]);
      if (e.ids.length > T + 1) return; // long: flows on like concat (checked by the loss total)
      fitting++;
      const windows = new Set(at.map(([i]) => i));
      if (e.ids.length >= 2) expect(windows.size, `example ${k} (${e.ids.length} tokens) split across windows`).toBe(1);
      const [i, p] = at[0] ?? [-1, -1];
      if (i < 0) return; // a 1-token example at the very last position is only a target
      const x = windowAt(w, i);
      // Its tokens in order: the inputs, then the last one as a target when it sits at position T.
      const got = [...x.inputs.subarray(p, p + at.length)];
      if (got.length < e.ids.length) got.push(x.targets[p + at.length - 1]);
      expect(got).toEqual(e.ids);
      // Its mask travels with its targets: mask[t] is the mask of token t+1 - p of the example.
      for (let j = 1; j < e.ids.length; j++) expect(x.mask[p + j - 1]).toBe(e.mask[j]);
    });
    expect(fitting).toBeGreaterThan(10);
  });

  test('an example of exactly T + 1 tokens fills one window with no padding', () => {
    const e: TokenizedExample = { line: 1, index: 0, ids: [5, 6, 7, 8, 9], mask: Uint8Array.of(0, 1, 1, 1, 1) };
    const w = packWindows([e, e], 4, 'packed', PAD);
    expect(w.count).toBe(2);
    expect(w.padTokens).toBe(0);
    expect([...windowAt(w, 1).inputs, windowAt(w, 1).targets[3]]).toEqual(e.ids);
  });

  test('what does not fit in the rest of a window starts the next; the gap is padding', () => {
    const a: TokenizedExample = { line: 1, index: 0, ids: [11, 12, 13], mask: Uint8Array.of(0, 1, 1) };
    const b: TokenizedExample = { line: 2, index: 1, ids: [21, 22, 23], mask: Uint8Array.of(0, 0, 1) };
    const w = packWindows([a, b], 4, 'packed', PAD);
    expect([...w.inputs]).toEqual([11, 12, 13, PAD, 21, 22, 23, PAD]);
    expect([...w.targets]).toEqual([12, 13, PAD, PAD, 22, 23, PAD, PAD]);
    expect([...w.mask]).toEqual([1, 1, 0, 0, 0, 1, 0, 0]);
    expect([...w.segment]).toEqual([1, 1, 1, 0, 2, 2, 2, 0]);
    expect(w.padTokens).toBe(2);
  });

  test('bad arguments are RangeErrors', () => {
    expect(() => packWindows([], 0, 'packed', 0)).toThrow(RangeError);
    expect(() => packWindows([], 4, 'packed', -1)).toThrow(RangeError);
    expect(() => packWindows([{ line: 1, index: 0, ids: [1, 2], mask: Uint8Array.of(0) }], 4, 'concat', 0)).toThrow(/2 ids but 1 mask/);
    expect(packWindows([], 4, 'concat' as PackMode, 0).count).toBe(0);
  });
});

describe('shuffle and split', () => {
  test('a permutation, the same for a seed, different for another', () => {
    const p = permutation(1000, 42);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(permutation(1000, 42)).toEqual(p);
    expect(permutation(1000, 43)).not.toEqual(p);
    expect(shuffled(['a', 'b', 'c', 'd', 'e'], 7)).toEqual(shuffled(['a', 'b', 'c', 'd', 'e'], 7));
  });

  test('held-out counts: round(n·f), at least one, never all', () => {
    expect([evalCount(100, 0.1), evalCount(5, 0.1), evalCount(2, 0.9), evalCount(1, 0.5), evalCount(10, 0)]).toEqual([10, 1, 1, 0, 0]);
    expect(splitTail([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.2)).toEqual({ train: [1, 2, 3, 4, 5, 6, 7, 8], eval: [9, 10] });
    expect(() => evalCount(10, 1)).toThrow(RangeError);
    expect(() => evalCount(10, -0.1)).toThrow(RangeError);
  });

  test('text is cut positionally at a line start near (1 − f) of its length', () => {
    const t = 'aaaa\nbbbb\ncccc\ndddd\neeee\n'; // 25 chars
    expect(textCut(t, 0.2)).toBe(20); // target 20 is a line start
    expect(textCut(t, 0.3)).toBe(20); // target 17 → next line start
    expect(textCut(t, 0)).toBe(25);
    expect(textCut('no line breaks here', 0.5)).toBe(9);
    expect(textCut('one\nlast line without break', 0.1)).toBe(4); // no line starts after the target: the one before
  });

  test('reordering windows moves whole windows', () => {
    const w = packWindows(randomExamples(20, 10, 5), 4, 'concat', PAD);
    const order = permutation(w.count, 9);
    const r = reorderWindows(w, order);
    for (let i = 0; i < w.count; i++) expect(windowAt(r, i)).toEqual(windowAt(w, order[i]));
    expect(() => reorderWindows(w, [0])).toThrow(RangeError);
  });
});
