// Next-token sampling from one row of logits, on the CPU (a [V] row is read
// back per step anyway, and V log-probabilities are cheap next to a forward).
// Greedy when temperature is 0: the first id of the largest logit, as
// llama.cpp's greedy sampler picks. Otherwise llama.cpp's default chain order:
// top-k, then top-p (both on the untempered distribution), then temperature,
// then a draw from a seeded RNG (src/gpu/random.ts), so runs replay exactly.
import { rng } from '../gpu/random.ts';

export interface SamplingOptions {
  /** 0 = greedy. */
  temperature: number;
  /** Keep the k most likely tokens; 0 or undefined = all. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p; 1 or undefined = all. */
  topP?: number;
}

export function checkSampling(o: SamplingOptions): void {
  if (!(o.temperature >= 0) || !Number.isFinite(o.temperature)) throw new RangeError(`temperature ${o.temperature} must be a finite number ≥ 0`);
  if (o.topK !== undefined && (!Number.isInteger(o.topK) || o.topK < 0)) throw new RangeError(`top-k ${o.topK} must be an integer ≥ 0 (0 = off)`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new RangeError(`top-p ${o.topP} must be in (0, 1]`);
}

/** Index of the largest value; the first one on ties; NaN logits never win. */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < logits.length; i++)
    if (logits[i] > bestV) {
      bestV = logits[i];
      best = i;
    }
  return best;
}

export interface Candidates {
  ids: number[];
  /** Probabilities of ids after filtering and temperature, summing to 1. */
  probs: number[];
}

function softmax(logits: readonly number[], scale: number): number[] {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v * scale);
  const e = logits.map((v) => Math.exp(v * scale - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** The distribution a non-greedy draw uses: candidates sorted by probability, filtered, tempered. */
export function candidates(logits: ArrayLike<number>, o: SamplingOptions): Candidates {
  checkSampling(o);
  if (o.temperature === 0) return { ids: [argmax(logits)], probs: [1] };
  let ids = Array.from({ length: logits.length }, (_, i) => i).filter((i) => !Number.isNaN(logits[i]));
  if (ids.length === 0) throw new RangeError('sampling: every logit is NaN');
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  if (o.topK) ids = ids.slice(0, o.topK);
  if (o.topP !== undefined && o.topP < 1) {
    const p = softmax(ids.map((i) => logits[i]), 1);
    let cum = 0;
    let keep = ids.length;
    for (let n = 0; n < p.length; n++) {
      cum += p[n];
      if (cum >= o.topP) {
        keep = n + 1;
        break;
      }
    }
    ids = ids.slice(0, keep);
  }
  return { ids, probs: softmax(ids.map((i) => logits[i]), 1 / o.temperature) };
}

/** A sampler bound to a seed: each call draws the next token id from a logits row. */
export function createSampler(o: SamplingOptions, seed = 0): (logits: ArrayLike<number>) => number {
  checkSampling(o);
  const random = rng(seed);
  return (logits) => {
    if (o.temperature === 0) return argmax(logits);
    const c = candidates(logits, o);
    const u = random();
    let cum = 0;
    for (let n = 0; n < c.ids.length; n++) {
      cum += c.probs[n];
      if (u < cum) return c.ids[n];
    }
    return c.ids[c.ids.length - 1]; // u within rounding of 1
  };
}
