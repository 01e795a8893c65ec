// Sampling on hand-made distributions: greedy ties, top-k and top-p sets,
// temperature, seeded reproducibility and draw frequencies.
import { describe, expect, it } from 'vitest';
import { argmax, candidates, createSampler } from '../../src/model/sampling.ts';

const logitsOf = (p: number[]) => p.map((v) => Math.log(v));

describe('sampling', () => {
  it('greedy: first largest logit, NaN never wins', () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(argmax([NaN, -1, NaN])).toBe(1);
    const s = createSampler({ temperature: 0 });
    expect(s([0.1, 0.5, 0.2])).toBe(1);
  });

  it('top-k keeps the k most likely, renormalised', () => {
    const c = candidates(logitsOf([0.1, 0.4, 0.2, 0.3]), { temperature: 1, topK: 2 });
    expect(c.ids).toEqual([1, 3]);
    expect(c.probs[0]).toBeCloseTo(4 / 7, 12);
    expect(c.probs[1]).toBeCloseTo(3 / 7, 12);
  });

  it('top-p keeps the smallest prefix reaching p', () => {
    const l = logitsOf([0.05, 0.5, 0.15, 0.3]);
    expect(candidates(l, { temperature: 1, topP: 0.79 }).ids).toEqual([1, 3]); // 0.5 + 0.3 reaches p
    expect(candidates(l, { temperature: 1, topP: 0.81 }).ids).toEqual([1, 3, 2]);
    expect(candidates(l, { temperature: 1, topP: 0.1 }).ids).toEqual([1]); // at least one kept
    expect(candidates(l, { temperature: 1, topK: 3, topP: 0.99 }).ids).toEqual([1, 3, 2]); // top-k first
  });

  it('temperature sharpens and flattens', () => {
    const l = logitsOf([0.2, 0.8]);
    expect(candidates(l, { temperature: 1 }).probs[0]).toBeCloseTo(0.8, 12);
    expect(candidates(l, { temperature: 0.5 }).probs[0]).toBeCloseTo(0.64 / 0.68, 12);
    expect(candidates(l, { temperature: 100 }).probs[0]).toBeLessThan(0.51);
  });

  it('seeded draws replay and follow the distribution', () => {
    const l = logitsOf([0.1, 0.6, 0.3]);
    const draw = (seed: number) => {
      const s = createSampler({ temperature: 1 }, seed);
      return Array.from({ length: 6000 }, () => s(l));
    };
    const a = draw(7);
    expect(draw(7)).toEqual(a);
    expect(draw(8)).not.toEqual(a);
    const freq = [0, 1, 2].map((i) => a.filter((v) => v === i).length / a.length);
    expect(freq[0]).toBeCloseTo(0.1, 1);
    expect(freq[1]).toBeCloseTo(0.6, 1);
    expect(freq[2]).toBeCloseTo(0.3, 1);
  });

  it('rejects bad options', () => {
    expect(() => createSampler({ temperature: -1 })).toThrow(/temperature/);
    expect(() => createSampler({ temperature: 1, topP: 0 })).toThrow(/top-p/);
    expect(() => createSampler({ temperature: 1, topK: 1.5 })).toThrow(/top-k/);
  });
});
