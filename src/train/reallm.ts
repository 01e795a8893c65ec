// ReALLM's split of a float weight (arXiv 2405.13155): W ≈ VQ(W − L) + L with
// VQ a learned vector-quantized codebook (src/quant/vq/kmeans.ts encodeLearned:
// one table of 2^k entries of d weights per matrix, one scale per output row —
// AQLM's 1×k layout) and L = L1·L2 a rank-r matrix the LoRA factors carry.
// Alternated as LQ-LoRA does (src/train/lqlora.ts), starting from L = 0:
//   Q ← encodeLearned(W − L);   L ← rank-r SVD of (W − deq(Q))
// stopping after `rounds` or as soon as a round's (importance-weighted)
// Frobenius error ‖W − deq(Q) − L‖ / ‖W‖ rises; the best round is kept. With
// an importance vector a (an imatrix's per-column Σx²/n) the k-means objective
// is weighted by it and the SVD is taken of (W − deq(Q))·diag(√a), then
// unscaled: the best rank-r fit under that column weighting.
// The LoRA factors carry L as lqlora does: s·B·A = L (s = alpha / r), the
// singular values split evenly between B and A.
//
// Codebook shape rule without a budget (reallmCodebook): AQLM's quantization_config
// is global, so every layer shares one (d, k). `--bits B` asks for B index bits per weight:
// k = B·d with d the largest of 8, 4, 2 such that k ≤ 16 (AQLM's codes are at
// most int16) and d divides the in_features of every quantized layer. So B=2 →
// d=8, k=16 (AQLM's published 1×16 shape); B=3 → d=4, k=12; B=4 → d=4, k=16;
// a model whose rows are not multiples of 8 (stories260K's down_proj: 172) falls
// to d=4 (B=2 → 1×8 codes of 4 weights). `--vq-dim D` / `--vq-bits K` override;
// a forced D that does not divide a layer's in_features is refused naming it.
// Storage per weight: k/d index bits + 16/cols for the row scale (f16 in AQLM),
// plus the table (2^k·d f16 values per matrix) and the LoRA factors.
//
// Per matrix instead (`--budget B`, src/train/budget/vq_plan.ts): each matrix's
// (d, k) and LoRA rank are chosen by the budget solver's exact knapsack over
// ReALLM candidates (src/train/budget/vq_candidates.ts: d ∈ {2, 4, 8} dividing
// its inputs, k = b·d for b = 1..4 with k ≤ 16 and 2^k below its number of
// vectors, × ranks 0/8/16/32/64 or the one --rank), bytes as above with LoRA at
// 16 bits per value, errors estimated on a row sample; reallmInit then builds
// each matrix at its chosen shape. The layers' shapes may then differ: the state,
// eval and the GGUF re-encoding take each layer's own; AQLM holds one shape per
// model, so --format aqlm makes the solver keep one shared shape and a mixed
// state's AQLM export is refused naming why.
import { encodeLearned, vqRelativeError, type Assigner } from '../quant/vq/kmeans.ts';
import { dequantizeVq, type VqTensor } from '../quant/vq/vqtensor.ts';
import { randomizedSvd } from './lqlora.ts';

export class ReallmError extends RangeError {
  override name = 'ReallmError';
}

export interface ReallmCodebook {
  /** Weights per code (in_group_size). */
  dim: 2 | 4 | 8;
  /** Index bits (nbits_per_codebook): the table has 2^bits entries. */
  bits: number;
  /** How it was chosen, in words. */
  why: string;
}

/** One (d, k) for every layer (see the file comment); `layers` are the quantized linears' names and in_features. */
export function reallmCodebook(bits: number | null, layers: readonly { name: string; cols: number }[], override: { dim?: number | null; bits?: number | null } = {}): ReallmCodebook {
  const od = override.dim ?? null;
  const ok = override.bits ?? null;
  if (od !== null && ![2, 4, 8].includes(od)) throw new ReallmError(`--vq-dim ${od}: the learned codebook takes vectors of 2, 4 or 8 weights`);
  if (ok !== null && (!Number.isInteger(ok) || ok < 1 || ok > 16)) throw new ReallmError(`--vq-bits ${ok}: codes of 1 to 16 bits (AQLM stores at most int16)`);
  if (od !== null) {
    const bad = layers.find((l) => l.cols % od !== 0);
    if (bad) throw new ReallmError(`--vq-dim ${od}: ${bad.name} has ${bad.cols} inputs, not a whole number of ${od}-weight vectors`);
    const k = ok ?? (bits === null ? null : bits * od);
    if (k === null) throw new ReallmError('--vq-dim needs --vq-bits or --bits');
    if (k > 16) throw new ReallmError(`--bits ${bits} with --vq-dim ${od} means ${k}-bit codes; AQLM's are at most 16 (use a smaller --vq-dim or give --vq-bits)`);
    return { dim: od as 2 | 4 | 8, bits: k, why: `--vq-dim ${od}${ok !== null ? ` --vq-bits ${ok}` : ` (k = ${bits}·${od})`}` };
  }
  if (bits === null && ok === null) throw new ReallmError('--method reallm needs --bits (or --vq-dim and --vq-bits)');
  for (const d of [8, 4, 2] as const) {
    const k = ok ?? bits! * d;
    if (k > 16 || layers.some((l) => l.cols % d !== 0)) continue;
    const narrower = d < 8 ? layers.find((l) => l.cols % (d * 2) !== 0 && (ok ?? bits! * d * 2) <= 16) : undefined;
    return { dim: d, bits: k, why: ok !== null ? `--vq-bits ${ok}, d = ${d}` : `${bits} bits per weight: k = ${bits}·d = ${k}, d = ${d}${narrower ? ` (${narrower.name} has ${narrower.cols} inputs, not a multiple of ${d * 2})` : ''}` };
  }
  const bad = layers.find((l) => l.cols % 2 !== 0);
  throw new ReallmError(bad ? `${bad.name} has ${bad.cols} inputs, an odd number: no vector length divides it` : `no vector length 2, 4 or 8 gives codes of at most 16 bits at ${bits} bits per weight`);
}

export interface ReallmOptions {
  rank: number;
  /** LoRA alpha; the adapter's scale is alpha / rank (default alpha = rank). */
  alpha?: number;
  /** Most alternating rounds (default 3; 1 = k-means of W with the SVD of its error). */
  rounds?: number;
  dim: 2 | 4 | 8;
  bits: number;
  /** Per-column importance (length cols): weights the k-means, the SVD and the error. */
  importance?: Float32Array;
  /** Lloyd iterations per encodeLearned (default 20). */
  iters?: number;
  seed?: number;
  /** Nearest-entry search (the GPU's gpuAssigner when a device is at hand). */
  assign?: Assigner;
}

export interface ReallmInit {
  q: VqTensor;
  /** LoRA A [R, I] and B [O, R], with s·B·A ≈ W − deq(q). */
  a: Float32Array;
  b: Float32Array;
  /** ‖W − deq(Q) − L‖ / ‖W‖ (importance-weighted with one) after each round computed. */
  errors: number[];
  /** The round kept (0-based): the last one unless the error rose. */
  kept: number;
  /** ‖W − deq(VQ(W))‖ / ‖W‖ (same weighting): round 1's codebook alone, without L. */
  vqOnlyError: number;
  /** k/d + 16/cols: index bits and an f16 row scale per weight (AQLM's storage, table and LoRA not counted). */
  bitsPerWeight: number;
}

/** The alternating learned-VQ / low-rank split of one weight [rows, cols]. */
export async function reallmInit(w: Float32Array, rows: number, cols: number, o: ReallmOptions, name = 'weight'): Promise<ReallmInit> {
  const R = o.rank;
  const rounds = o.rounds ?? 3;
  if (!Number.isInteger(rounds) || rounds < 1) throw new ReallmError(`${name}: ReALLM rounds ${rounds} is not a positive integer`);
  if (!Number.isInteger(R) || R < 1 || R > Math.min(rows, cols)) throw new ReallmError(`${name}: rank ${R} does not fit [${rows}, ${cols}]`);
  if (cols % o.dim !== 0) throw new ReallmError(`${name}: ${cols} inputs are not a whole number of ${o.dim}-weight vectors`);
  const scale = (o.alpha ?? R) / R;
  const imp = o.importance;
  if (imp && imp.length !== cols) throw new ReallmError(`${name}: importance has ${imp.length} values for ${cols} columns`);
  // Column weights for the SVD: √a, floored so a column nobody reads is still recoverable.
  let colW: Float64Array | null = null;
  if (imp) {
    let mean = 0;
    for (const x of imp) mean += x / cols;
    colW = Float64Array.from(imp, (x) => Math.sqrt(Math.max(x, 1e-8 * (mean || 1))));
  }
  const aw = (c: number) => (imp ? imp[c] : 1);
  let wNorm = 0;
  for (let i = 0; i < w.length; i++) wNorm += aw(i % cols) * w[i] * w[i];
  wNorm = Math.sqrt(wNorm) || 1;

  const low = new Float64Array(rows * cols); // L
  const target = new Float32Array(rows * cols);
  const resid = new Float64Array(rows * cols);
  const errors: number[] = [];
  let best: { q: VqTensor; a: Float32Array; b: Float32Array; round: number } | null = null;
  let vqOnlyError = NaN;
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < target.length; i++) target[i] = w[i] - low[i];
    const enc = await encodeLearned(target, rows, cols, { dim: o.dim, bits: o.bits, importance: imp, iters: o.iters, seed: (o.seed ?? 0) * 7919 + round, assign: o.assign });
    const q = enc.q;
    if (round === 0) vqOnlyError = vqRelativeError(w, q, imp);
    const dq = dequantizeVq(q);
    for (let i = 0; i < resid.length; i++) resid[i] = (w[i] - dq[i]) * (colW ? colW[i % cols] : 1);
    const svd = randomizedSvd(resid, rows, cols, R, { seed: (o.seed ?? 0) * 7919 + round });
    low.fill(0);
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < svd.k; j++) {
        const us = svd.u[i * svd.k + j] * svd.s[j];
        for (let c = 0; c < cols; c++) low[i * cols + c] += us * svd.v[c * svd.k + j];
      }
    if (colW) for (let i = 0; i < low.length; i++) low[i] /= colW[i % cols];
    let e = 0;
    for (let i = 0; i < w.length; i++) e += aw(i % cols) * (w[i] - dq[i] - low[i]) ** 2;
    const err = Math.sqrt(e) / wNorm;
    if (errors.length && err >= errors[errors.length - 1]) {
      errors.push(err);
      break; // rose (or stalled): keep the previous round
    }
    errors.push(err);
    // s·B·A = L: singular values split evenly; with column weights, A's columns unscaled.
    const a = new Float32Array(R * cols);
    const b = new Float32Array(rows * R);
    for (let j = 0; j < svd.k; j++) {
      const f = Math.sqrt(svd.s[j] / scale);
      for (let c = 0; c < cols; c++) a[j * cols + c] = (f * svd.v[c * svd.k + j]) / (colW ? colW[c] : 1);
      for (let i = 0; i < rows; i++) b[i * R + j] = f * svd.u[i * svd.k + j];
    }
    best = { q, a, b, round };
  }
  const { q, a, b, round } = best!;
  return { q, a, b, errors, kept: round, vqOnlyError, bitsPerWeight: o.bits / o.dim + 16 / cols };
}
