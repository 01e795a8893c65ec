// Issue 21 item 7: a run whose held-out loss ends above where it started is
// reported with a warning and a lower learning rate to try; one that improved,
// or has no held-out score, or trained nothing, is not.
import { describe, expect, test } from 'vitest';
import { runWarnings } from '../../src/train/outcome.ts';

const ev = (loss: number) => ({ loss, ppl: Math.exp(loss) });

describe('runWarnings', () => {
  test('held-out loss rose: one warning, with the figures and a third of the lr', () => {
    // The figures: perplexity 47.45 → 54.75 at lr 3e-3.
    const w = runWarnings({ steps: 10, lr: 3e-3, evalBefore: ev(Math.log(47.45)), evalAfter: ev(Math.log(54.75)) });
    expect(w).toHaveLength(1);
    expect(w[0]).toContain('47.45 → 54.75');
    expect(w[0]).toContain('lower learning rate (e.g. 0.001 instead of 0.003)');
  });
  test('held-out loss fell or stayed: nothing to warn about', () => {
    expect(runWarnings({ steps: 10, lr: 3e-3, evalBefore: ev(4), evalAfter: ev(3.5) })).toEqual([]);
    expect(runWarnings({ steps: 10, lr: 3e-3, evalBefore: ev(4), evalAfter: ev(4) })).toEqual([]);
  });
  test('no held-out score, or no step trained: nothing is claimed', () => {
    expect(runWarnings({ steps: 10, lr: 3e-3, evalBefore: null, evalAfter: null })).toEqual([]);
    expect(runWarnings({ steps: 10, lr: 3e-3, evalBefore: ev(4), evalAfter: null })).toEqual([]);
    expect(runWarnings({ steps: 0, lr: 3e-3, evalBefore: ev(4), evalAfter: ev(5) })).toEqual([]);
  });
});
