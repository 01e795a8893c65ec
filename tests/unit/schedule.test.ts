// Learning-rate schedules at hand-computed points: the warmup ramp, the cosine
// midpoint and quarter points, the floor at and past the end, constant after
// warmup, and refused configurations.
import { describe, expect, it } from 'vitest';
import { checkSchedule, learningRate, type LrSchedule } from '../../src/train/schedule.ts';

// peak 1e-3, floor 1e-4, 4 warmup steps, cosine over steps 4 .. 12 (8 steps).
const cosine: LrSchedule = { kind: 'cosine', peak: 1e-3, warmupSteps: 4, totalSteps: 12, floor: 1e-4 };

describe('learning-rate schedules', () => {
  it('cosine: linear warmup to the peak, then a half cosine to the floor', () => {
    const at = (s: number) => learningRate(cosine, s);
    // warmup: peak·(s + 1)/5
    expect(at(0)).toBeCloseTo(2e-4, 15);
    expect(at(1)).toBeCloseTo(4e-4, 15);
    expect(at(3)).toBeCloseTo(8e-4, 15);
    // decay: floor + 9e-4·½(1 + cos(π·(s − 4)/8))
    expect(at(4)).toBe(1e-3);
    expect(at(6)).toBeCloseTo(1e-4 + 9e-4 * 0.5 * (1 + Math.SQRT1_2), 15); // 8.6819805e-4
    expect(at(6)).toBeCloseTo(8.6819805e-4, 11);
    expect(at(8)).toBeCloseTo(5.5e-4, 15); // midpoint
    expect(at(10)).toBeCloseTo(2.3180195e-4, 11); // 1e-4 + 9e-4·½(1 − √½)
    expect(at(11)).toBeCloseTo(1e-4 + 9e-4 * 0.5 * (1 - Math.cos(Math.PI / 8)), 15); // last step, just above the floor
    expect(at(12)).toBe(1e-4);
    expect(at(1000)).toBe(1e-4);
  });

  it('cosine is non-increasing after warmup and increasing during it', () => {
    const lrs = Array.from({ length: 20 }, (_, s) => learningRate(cosine, s));
    for (let s = 1; s <= 4; s++) expect(lrs[s]).toBeGreaterThan(lrs[s - 1]);
    for (let s = 5; s < 20; s++) expect(lrs[s]).toBeLessThanOrEqual(lrs[s - 1]);
  });

  it('constant after warmup; no warmup means the peak from step 0', () => {
    const c: LrSchedule = { kind: 'constant', peak: 3e-4, warmupSteps: 2 };
    [1e-4, 2e-4, 3e-4, 3e-4, 3e-4].forEach((want, k) => expect(learningRate(c, [0, 1, 2, 3, 500][k])).toBeCloseTo(want, 15));
    expect(learningRate({ kind: 'constant', peak: 5e-5, warmupSteps: 0 }, 0)).toBe(5e-5);
    expect(learningRate({ kind: 'cosine', peak: 1e-3, warmupSteps: 0, totalSteps: 2, floor: 0 }, 1)).toBeCloseTo(5e-4, 15);
    // Warmup as long as the run: the floor after it.
    expect(learningRate({ kind: 'cosine', peak: 1e-3, warmupSteps: 3, totalSteps: 3, floor: 1e-5 }, 3)).toBe(1e-5);
  });

  it('refuses schedules and steps it cannot evaluate', () => {
    expect(() => learningRate(cosine, -1)).toThrow(/step -1/);
    expect(() => learningRate(cosine, 1.5)).toThrow(/step 1.5/);
    expect(() => checkSchedule({ ...cosine, totalSteps: 3 })).toThrow(/shorter than warmupSteps/);
    expect(() => checkSchedule({ ...cosine, floor: 2e-3 })).toThrow(/floor 0.002 is not in/);
    expect(() => checkSchedule({ ...cosine, peak: NaN })).toThrow(/peak NaN/);
    expect(() => checkSchedule({ kind: 'constant', peak: 1e-3, warmupSteps: -2 })).toThrow(/warmupSteps -2/);
    expect(() => checkSchedule({ kind: 'linear', peak: 1e-3, warmupSteps: 0 } as unknown as LrSchedule)).toThrow(/unknown kind linear/);
  });
});
