// The teacher's top-K rows taken on the CPU (src/train/distill/topk.ts) equal
// the reference's full sort, ties included; the tail is summed directly (exact
// 0 at K = V); the planner counts a live teacher and refuses one whose logits
// chunk cannot be bound; the guard fires only when held-out KL rose.
import { describe, expect, it } from 'vitest';
import { topKRows } from '../../src/train/distill/topk.ts';
import { teacherTopKRef } from '../../src/ref/distill.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { planTeacher, withTeacher } from '../../src/model/planner_distill.ts';
import { checkPlanFits, planStep, PlanRefusedError } from '../../src/model/planner.ts';
import { klGuard } from '../../src/cli/tune_distill.ts';
import type { LlamaConfig } from '../../src/arch/config.ts';

describe('topKRows', () => {
  for (const [rows, V, K, tau] of [
    [3, 7, 7, 1],
    [4, 513, 64, 2],
    [2, 100, 1, 0.5],
    [1, 1000, 999, 1],
  ])
    it(`rows=${rows} V=${V} K=${K} τ=${tau} equals the reference`, () => {
      const z = randomF32(rows * V, V + K).map((x) => Math.round(8 * x) / 2); // many exact ties
      const got = topKRows(z, rows, V, K, tau);
      const ref = teacherTopKRef(z, rows, V, K, tau);
      expect(Array.from(got.ids)).toEqual(Array.from(ref.ids));
      let worst = 0;
      for (let i = 0; i < got.logp.length; i++) worst = Math.max(worst, Math.abs(got.logp[i] - ref.logp[i]) / Math.max(1, Math.abs(ref.logp[i])));
      expect(worst, `logp: worst rel error ${worst}`).toBeLessThanOrEqual(1e-7); // f32 storage
      for (let r = 0; r < rows; r++) expect(Math.abs(got.tail[r] - ref.tail[r])).toBeLessThanOrEqual(1e-14);
      if (K === V) expect(Array.from(got.tail)).toEqual(new Array(rows).fill(0));
    });

  it('refuses K outside 1..V and a non-positive temperature', () => {
    expect(() => topKRows([1, 2], 1, 2, 3, 1)).toThrow(/top-K of 3/);
    expect(() => topKRows([1, 2], 1, 2, 0, 1)).toThrow(/top-K of 0/);
    expect(() => topKRows([1, 2], 1, 2, 1, 0)).toThrow(/temperature/);
  });
});

const config: LlamaConfig = {
  architecture: 'llama', vocabSize: 32000, hiddenSize: 64, intermediateSize: 172, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16,
  ropeTheta: 10000, ropeScaling: { type: 'none' }, rmsNormEps: 1e-5, tieWordEmbeddings: true, qkvBias: false, oBias: false, mlpBias: false,
  bosTokenId: 1, eosTokenIds: [2], maxPositions: 512, slidingWindow: null,
};

describe('planTeacher', () => {
  const dense = () => ({ kind: 'dense' }) as const;
  it('adds the teacher to the student plan and names its largest buffer when it cannot be bound', () => {
    const student = planStep({ config, storage: () => ({ kind: 'quant', bits: 2, groupSize: 32 }), train: { method: 'peqa' }, B: 2, T: 64 });
    const teacher = planTeacher({ config, storage: dense, B: 2, T: 64, topK: 64 });
    // Weights: the dense embedding/head table alone is V·C floats.
    expect(teacher.parts.weights).toBeGreaterThan(config.vocabSize * config.hiddenSize * 4);
    expect(teacher.parts.rows).toBeGreaterThanOrEqual(2 * 64 * 64 * 8 + 2 * 64 * Math.ceil(config.vocabSize / 32) * 4);
    const both = withTeacher(student, teacher);
    expect(both.total).toBe(student.total + teacher.total);
    const limits = { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 30 };
    expect(checkPlanFits(both, limits).total).toBe(both.total);
    // K = V: the teacher's [N, K] log-probabilities (16 MiB) outgrow the student's largest buffer and a 12 MiB
    // binding limit: refused before anything is allocated, naming the buffer and its bytes.
    const full = withTeacher(student, planTeacher({ config, storage: dense, B: 2, T: 64, topK: config.vocabSize }));
    const small = { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 12 * 2 ** 20 };
    expect(checkPlanFits(both, small).total).toBe(both.total);
    expect(() => checkPlanFits(full, small, undefined, 'this distillation run')).toThrow(PlanRefusedError);
    expect(() => checkPlanFits(full, small, undefined, 'this distillation run')).toThrow(/teacher distill\.(ids|logp)\) needs 16,384,000 bytes/);
  });
});

describe('klGuard', () => {
  const e = (kl: number) => ({ kl, top1: 0.5, pplStudent: 10, pplTeacher: 9, tokens: 100 });
  it('fires only when held-out KL ended above where it started', () => {
    expect(klGuard(e(0.5), e(0.4))).toBeNull();
    expect(klGuard(e(0.5), e(0.5))).toBeNull();
    expect(klGuard(e(0.4), e(0.5))).toMatch(/rose from 0\.4000 to 0\.5000/);
    expect(klGuard(null, e(0.5))).toBeNull();
  });
});
