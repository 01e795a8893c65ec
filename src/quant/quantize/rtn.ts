// Round-to-nearest quantizers from f32 to a QTensor, per group along the row:
//  - asymmetric: q = clamp(round(w/scale) + z), integer zero point z, so that
//    offset = −z·scale. An integer zero point is what GPTQ checkpoints store and
//    what PEQA keeps fixed while the scale trains (arXiv 2305.14152 §3).
//  - symmetric: z fixed at 2^(bits−1), scale from the larger of |min|, |max|
//    (GPTQ's sym convention, so such a tensor exports to GPTQ with sym=true).
//  - clip search (`mse: true`): shrink the range by factors 1, 0.99, … down to
//    `minShrink` and keep the one with the least squared error in the group. At 2–3
//    bits the outliers that min-max protects cost more than clipping them.
//    With per-column `weights` the error is Σ w·d² (data-aware LQ-LoRA).
import { emptyQTensor, groupsPerRow, setCode, type QBits, type QTensor } from '../qtensor.ts';

export interface RtnOptions {
  bits: QBits;
  /** Group size along the row, or 'channel' for one group per row. */
  groupSize: number | 'channel';
  symmetric?: boolean;
  mse?: boolean;
  /** Smallest range factor tried by the clip search (default 0.5, 50 steps). */
  minShrink?: number;
  steps?: number;
  /**
   * Per-column importance [cols] (≥ 0) weighting the clip search's squared
   * error (an imatrix's mean x², or a Fisher estimate's column sums): the
   * search keeps the range with the least Σ w·(q − w)² instead. Without it the
   * result is the unweighted one, bit for bit.
   */
  weights?: ArrayLike<number>;
}

interface GroupFit {
  scale: number;
  zero: number;
}

function fitRange(lo: number, hi: number, maxq: number, symmetric: boolean): GroupFit {
  if (symmetric) {
    const a = Math.max(Math.abs(lo), Math.abs(hi));
    const zero = (maxq + 1) / 2;
    const scale = a === 0 ? 1 : (2 * a) / maxq;
    return { scale: Math.fround(scale), zero };
  }
  lo = Math.min(lo, 0); // keep 0 representable (GPTQ/AutoRound convention): exact zeros stay zero
  hi = Math.max(hi, 0);
  if (hi === lo) return { scale: 1, zero: 0 };
  const scale = Math.fround((hi - lo) / maxq);
  return { scale, zero: Math.min(maxq, Math.max(0, Math.round(-lo / scale))) };
}

function groupError(w: Float32Array, a: number, b: number, f: GroupFit, maxq: number, weights?: ArrayLike<number>): number {
  let e = 0;
  for (let k = a; k < b; k++) {
    const q = Math.min(maxq, Math.max(0, Math.round(w[k] / f.scale) + f.zero));
    const d = f.scale * (q - f.zero) - w[k];
    e += weights ? weights[k] * d * d : d * d;
  }
  return e;
}

/** Quantize a row-major [rows, cols] f32 weight. */
export function quantizeRtn(w: Float32Array, rows: number, cols: number, opts: RtnOptions): QTensor {
  if (w.length !== rows * cols) throw new RangeError(`quantizeRtn: ${w.length} values for [${rows}, ${cols}]`);
  const G = opts.groupSize === 'channel' ? cols : opts.groupSize;
  const t = emptyQTensor(rows, cols, opts.bits, G);
  const maxq = (1 << opts.bits) - 1;
  const ng = groupsPerRow(cols, G);
  const steps = opts.steps ?? 50;
  const minShrink = opts.minShrink ?? 0.5;
  const wts = opts.weights;
  if (wts && (wts.length !== cols || Array.from(wts).some((x) => !(x >= 0) || !Number.isFinite(x))))
    throw new RangeError(`quantizeRtn: ${wts.length} importance weights for ${cols} columns (each finite and ≥ 0)`);
  for (let r = 0; r < rows; r++) {
    const row = w.subarray(r * cols, (r + 1) * cols);
    for (let g = 0; g < ng; g++) {
      const a = g * G;
      const b = Math.min(cols, a + G);
      let lo = Infinity;
      let hi = -Infinity;
      for (let k = a; k < b; k++) {
        if (!Number.isFinite(row[k])) throw new RangeError(`quantizeRtn: non-finite weight ${row[k]} at row ${r}, column ${k}`);
        lo = Math.min(lo, row[k]);
        hi = Math.max(hi, row[k]);
      }
      let best = fitRange(lo, hi, maxq, !!opts.symmetric);
      if (opts.mse) {
        let bestErr = groupError(row, a, b, best, maxq, wts);
        for (let s = 1; s <= steps; s++) {
          const p = 1 - ((1 - minShrink) * s) / steps;
          const f = fitRange(lo * p, hi * p, maxq, !!opts.symmetric);
          const e = groupError(row, a, b, f, maxq, wts);
          if (e < bestErr) {
            bestErr = e;
            best = f;
          }
        }
      }
      t.scale[r * ng + g] = best.scale;
      t.offset[r * ng + g] = Math.fround(-best.zero * best.scale);
      for (let k = a; k < b; k++) setCode(t, r, k, Math.min(maxq, Math.max(0, Math.round(row[k] / best.scale) + best.zero)));
    }
  }
  return t;
}

/** Zero points implied by a tensor quantized with an integer zero point (offset = −z·scale). */
export function zeroPoints(t: QTensor): Float32Array {
  const z = new Float32Array(t.scale.length);
  for (let i = 0; i < z.length; i++) z[i] = t.scale[i] === 0 ? 0 : Math.round(-t.offset[i] / t.scale[i]);
  return z;
}
