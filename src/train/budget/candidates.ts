// LQ-LoRA under a bit budget, step 1 (arXiv 2311.12023 §3.2): for one float
// weight W [O, I] (and optional per-column importance weights w, the imatrix's
// mean x² per input column), measure every candidate configuration
// (quantization type × LoRA rank): its bytes and the error of its LQ split
//   error = ‖diag(√r)·(W − Q − L)·diag(√w)‖²_F     (w = 1 without an importance matrix;
//   r = 1 but for the Fisher weighting, whose rank-1 form r·wᵀ weighs rows too)
// where Q = dequant(quantize(W − L)) and L is the rank-r correction.
//
// Types: sub4's own grids (2/3/4-bit, groups 32/64/128, asymmetric RTN with
// the MSE clip search at 2–3 bits, src/quant/quantize/rtn.ts) and GGUF block
// types quantized byte-identically to llama.cpp by ggmlQuantize (importance
// weights passed where llama.cpp takes them) and decoded by the table's
// reference dequantizers (src/quant/formats.ts). A GGUF type is a candidate only
// when its block divides I; a type sub4 cannot quantize yet (the grid i-quants
// until their port lands, QuantizeUnsupportedError) or that needs an imatrix
// that was not given (ImatrixRequiredError) is listed as skipped, not an error.
// The sub4 grids quantize by plain RTN (importance weights only weigh their error).
//
// Bytes (the convention the solver and the CLI's bits per weight use):
//  - GGUF types: the blocks as the GGUF file stores them, (O·I / block)·bytesPerBlock;
//  - sub4 grids: as GGUF/GPTQ-style storage would hold them: b bits per code
//    plus an f16 scale and an f16 offset per group, O·(b·I/8 + 4·⌈I/g⌉) bytes
//    (4-bit g32 = 5 bits per weight, Q4_1's size);
//  - LoRA factors at 16 bits per value (what an F16/BF16 adapter holds):
//    2·r·(O + I) bytes. (sub4 trains them in f32 and its adapter.gguf writes F32;
//    the plan counts the 16-bit storage a deployment would use.)
//
// The weighted low-rank fit is exact for rank-1 weights: the best rank-r L
// under ‖D_r·(R − L)·D‖ is D_r⁻¹·SVD_r(D_r·R·D)·D⁻¹ with D = diag(√w),
// D_r = diag(√r), so every SVD below runs on the scaled residual.
//
// Cost, per type: round 1 quantizes W once (L = 0: shared by every rank) and
// takes ONE randomized SVD of its residual at the largest rank asked
// (`sketchRank`), whose truncations start every rank; each later round (default
// rounds = 2: one more) quantizes W − L and takes one rank-r SVD per rank. So a
// type with ranks {0, 8, 16, 32, 64} costs 1 + 4·(rounds − 1) quantizations and
// 1 + 4·(rounds − 1) SVDs; rank 0 costs nothing beyond round 1. An SVD of
// [O, I] at sketch k = r + 8 with 2 power iterations is ~6·O·I·k multiply-adds
// in f64 on the CPU (the randomized SVD of src/train/lqlora.ts).
import { randomizedSvd, type Svd } from '../lqlora.ts';
import { quantizeWeight } from '../quantize_model.ts';
import { BLOCK_FORMATS, GgmlType, ggmlTypeName, isSupportedType } from '../../quant/formats.ts';
import { GRID_IQUANTS, ggmlQuantize, ImatrixRequiredError, QuantizeUnsupportedError } from '../../quant/quantize/ggml_quantize.ts';
import type { Quantizer } from '../../quant/quantize/pool.ts';
import { dequantizeQ, type QTensor } from '../../quant/qtensor.ts';

/** One quantization configuration of a matrix. */
export type QuantChoice = { kind: 'gguf'; type: GgmlType } | { kind: 'grid'; bits: 2 | 3 | 4; groupSize: number };

/** LoRA values are counted at this many bits (see the file comment). */
export const LORA_BITS_PER_VALUE = 16;

/** GGUF types considered by default (the ones llama.cpp ships as model types; grid i-quants when ported). */
export const GGUF_CANDIDATE_TYPES: readonly GgmlType[] = [
  GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q8_0,
  GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL, GgmlType.IQ4_XS,
  GgmlType.TQ1_0, GgmlType.TQ2_0, ...GRID_IQUANTS,
];

export const GRID_CANDIDATES: readonly QuantChoice[] = ([2, 3, 4] as const).flatMap((bits) => [32, 64, 128].map((groupSize) => ({ kind: 'grid' as const, bits, groupSize })));

export const DEFAULT_RANKS: readonly number[] = [0, 8, 16, 32, 64];

/** The candidate set: GGUF types (+ sub4 grids unless `ggufOnly`). */
export function defaultChoices(ggufOnly: boolean): QuantChoice[] {
  return [...GGUF_CANDIDATE_TYPES.map((type) => ({ kind: 'gguf' as const, type })), ...(ggufOnly ? [] : GRID_CANDIDATES)];
}

export function choiceName(c: QuantChoice): string {
  return c.kind === 'gguf' ? ggmlTypeName(c.type) : `sub4-${c.bits}bit-g${c.groupSize}`;
}

/** Parse a choiceName back ("Q4_K", "sub4-3bit-g64"), or null. */
export function parseChoice(name: string): QuantChoice | null {
  const m = /^sub4-([234])bit-g(\d+)$/.exec(name);
  if (m) return { kind: 'grid', bits: Number(m[1]) as 2 | 3 | 4, groupSize: Number(m[2]) };
  const t = (GgmlType as unknown as Record<string, number>)[name];
  return typeof t === 'number' && isSupportedType(t) ? { kind: 'gguf', type: t } : null;
}

/** Why the choice cannot hold a [rows, cols] matrix, or null when it can. */
export function choiceMisfit(c: QuantChoice, cols: number): string | null {
  if (c.kind === 'grid') return null;
  if (!isSupportedType(c.type)) return `sub4 cannot decode ${ggmlTypeName(c.type)}`;
  const bs = BLOCK_FORMATS[c.type].blockSize;
  return cols % bs === 0 ? null : `${ggmlTypeName(c.type)} blocks of ${bs} do not divide rows of ${cols}`;
}

/** Storage bytes of the quantized matrix (see the file comment). */
export function quantBytes(c: QuantChoice, rows: number, cols: number): number {
  if (c.kind === 'gguf') {
    const f = BLOCK_FORMATS[c.type as keyof typeof BLOCK_FORMATS];
    return ((rows * cols) / f.blockSize) * f.bytesPerBlock;
  }
  return rows * ((c.bits * cols) / 8 + 4 * Math.ceil(cols / c.groupSize));
}

export function loraBytes(rank: number, rows: number, cols: number): number {
  return (rank * (rows + cols) * LORA_BITS_PER_VALUE) / 8;
}

/** A quantized matrix: its dequantized values and its storage (GGUF blocks, engine row order; or the sub4 QTensor). */
export interface Quantized {
  choice: QuantChoice;
  dq: Float32Array;
  blocks: Uint8Array | null;
  q: QTensor | null;
}

/** `quantize`: ggmlQuantize (default) or a worker pool's (src/quant/quantize/pool.ts), same bytes. */
export async function quantizeAs(c: QuantChoice, target: Float32Array, rows: number, cols: number, weights: Float32Array | null, name = 'weight', quantize: Quantizer = ggmlQuantize): Promise<Quantized> {
  if (c.kind === 'grid') {
    const q = quantizeWeight(target, rows, cols, { bits: c.bits, groupSize: c.groupSize }, name);
    return { choice: c, dq: dequantizeQ(q), blocks: null, q };
  }
  const blocks = await quantize(c.type, target, rows, cols, weights);
  const f = BLOCK_FORMATS[c.type as keyof typeof BLOCK_FORMATS];
  const dq = new Float32Array(rows * cols);
  f.dequantize(blocks, dq, (rows * cols) / f.blockSize);
  return { choice: c, dq, blocks, q: null };
}

export interface SplitOptions {
  /** Per-column importance (length cols), or null for the plain Frobenius error; also the quantizer's weights. */
  weights: Float32Array | null;
  /** Per-row importance (length rows; the Fisher estimate's row sums), or null/absent: all rows alike. */
  rowWeights?: ArrayLike<number> | null;
  /** Alternating rounds (≥ 1; default 2). */
  rounds?: number;
  /** Rank of the shared round-1 SVD: the largest rank measured for this matrix (default: the largest asked). */
  sketchRank?: number;
  seed?: number;
  /** The GGUF types' quantizer (quantizeAs). */
  quantize?: Quantizer;
}

/** √w per column (or row), floored so that D⁻¹ exists (1 without weights). */
function columnScale(weights: ArrayLike<number> | null | undefined, cols: number): Float64Array {
  const d = new Float64Array(cols).fill(1);
  if (!weights) return d;
  let mean = 0;
  for (let c = 0; c < cols; c++) mean += Math.max(weights[c], 0);
  mean /= cols;
  const floor = Math.max(mean * 1e-6, 1e-30);
  for (let c = 0; c < cols; c++) d[c] = Math.sqrt(Math.max(weights[c], floor));
  return d;
}

/** D_r·(W − dq)·D in f64. */
function scaledResidual(w: Float32Array, dq: Float32Array, d: Float64Array, dr: Float64Array, cols: number): Float64Array {
  const out = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = (w[i] - dq[i]) * d[i % cols] * dr[Math.floor(i / cols)];
  return out;
}

/** L = D_r⁻¹·(U_r Σ_r V_rᵀ)·D⁻¹, the first r components of `svd`. */
function lowRank(svd: Svd, r: number, rows: number, cols: number, d: Float64Array, dr: Float64Array): Float64Array {
  const low = new Float64Array(rows * cols);
  const k = svd.k;
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < Math.min(r, k); j++) {
      const us = svd.u[i * k + j] * svd.s[j];
      if (us === 0) continue;
      for (let c = 0; c < cols; c++) low[i * cols + c] += us * svd.v[c * k + j];
    }
  for (let i = 0; i < low.length; i++) low[i] /= d[i % cols] * dr[Math.floor(i / cols)];
  return low;
}

function weightedError(w: Float32Array, dq: Float32Array, low: Float64Array | null, d: Float64Array, dr: Float64Array, cols: number): number {
  let e = 0;
  for (let i = 0; i < w.length; i++) {
    const x = (w[i] - dq[i] - (low ? low[i] : 0)) * d[i % cols] * dr[Math.floor(i / cols)];
    e += x * x;
  }
  return e;
}

/** The split kept for training: the base and the LoRA factors with s·B·A = L (s = alpha / rank). */
export interface SplitResult {
  quant: Quantized;
  /** A [r, I], B [O, r]; null at rank 0. */
  a: Float32Array | null;
  b: Float32Array | null;
  error: number;
}

/**
 * The LQ split of W for one quantization choice at every rank in `ranks`
 * (errors by rank; see the file comment for the rounds and the shared SVD).
 * `keep`: also return the split at that rank with factors for LoRA scale `scale`.
 */
export async function lqSplit(
  w: Float32Array,
  rows: number,
  cols: number,
  c: QuantChoice,
  ranks: readonly number[],
  o: SplitOptions,
  keep?: { rank: number; scale: number },
  name = 'weight',
): Promise<{ errors: Map<number, number>; kept: SplitResult | null }> {
  const rounds = o.rounds ?? 2;
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`${name}: LQ-LoRA rounds ${rounds} is not a positive integer`);
  const d = columnScale(o.weights, cols);
  const dr = columnScale(o.rowWeights, rows);
  if (o.rowWeights && o.rowWeights.length !== rows) throw new RangeError(`${name}: ${o.rowWeights.length} row weights for ${rows} rows`);
  const seed = o.seed ?? 0;
  const errors = new Map<number, number>();
  let kept: SplitResult | null = null;
  const q0 = await quantizeAs(c, w, rows, cols, o.weights, name, o.quantize);
  const positive = ranks.filter((r) => r > 0);
  if (ranks.includes(0)) {
    errors.set(0, weightedError(w, q0.dq, null, d, dr, cols));
    if (keep?.rank === 0) kept = { quant: q0, a: null, b: null, error: errors.get(0)! };
  }
  if (positive.length === 0) return { errors, kept };
  const sketch = Math.max(o.sketchRank ?? 0, ...positive);
  const svd0 = randomizedSvd(scaledResidual(w, q0.dq, d, dr, cols), rows, cols, sketch, { seed: seed * 7919 });
  const target = new Float32Array(w.length);
  for (const r of positive) {
    let svd = svd0;
    let low = lowRank(svd, r, rows, cols, d, dr);
    let q = q0;
    for (let round = 1; round < rounds; round++) {
      for (let i = 0; i < w.length; i++) target[i] = w[i] - low[i];
      q = await quantizeAs(c, target, rows, cols, o.weights, name, o.quantize);
      svd = randomizedSvd(scaledResidual(w, q.dq, d, dr, cols), rows, cols, r, { seed: seed * 7919 + round });
      low = lowRank(svd, r, rows, cols, d, dr);
    }
    const e = weightedError(w, q.dq, low, d, dr, cols);
    errors.set(r, e);
    if (keep?.rank === r) {
      // s·B·A = D_r⁻¹ U_r Σ_r V_rᵀ D⁻¹ with the singular values split evenly between the factors.
      const a = new Float32Array(r * cols);
      const b = new Float32Array(rows * r);
      for (let j = 0; j < Math.min(r, svd.k); j++) {
        const f = Math.sqrt(svd.s[j] / keep.scale);
        for (let cc = 0; cc < cols; cc++) a[j * cols + cc] = (f * svd.v[cc * svd.k + j]) / d[cc];
        for (let i = 0; i < rows; i++) b[i * r + j] = (f * svd.u[i * svd.k + j]) / dr[i];
      }
      kept = { quant: q, a, b, error: e };
    }
  }
  return { errors, kept };
}

export interface Candidate {
  choice: QuantChoice;
  /** choiceName(choice). */
  type: string;
  rank: number;
  quantBytes: number;
  loraBytes: number;
  /** quantBytes + loraBytes. */
  bytes: number;
  /** ‖(W − Q − L)·diag(√w)‖²_F. */
  error: number;
}

export interface CandidateOptions {
  choices: readonly QuantChoice[];
  /** Ranks asked; each is capped at ⌊min(O, I) / 2⌋ (duplicates after capping dropped). */
  ranks: readonly number[];
  weights: Float32Array | null;
  /** Per-row importance (SplitOptions.rowWeights). */
  rowWeights?: ArrayLike<number> | null;
  rounds?: number;
  seed?: number;
  quantize?: Quantizer;
}

/** The ranks measured for a [rows, cols] matrix. */
export function ranksFor(ranks: readonly number[], rows: number, cols: number): number[] {
  const cap = Math.floor(Math.min(rows, cols) / 2);
  return [...new Set(ranks.map((r) => Math.min(r, cap)))].sort((a, b) => a - b);
}

/** Every candidate of one matrix, and the choices that could not be measured (with why). */
export async function measureCandidates(w: Float32Array, rows: number, cols: number, o: CandidateOptions, name = 'weight'): Promise<{ candidates: Candidate[]; skipped: { type: string; why: string }[] }> {
  if (w.length !== rows * cols) throw new RangeError(`${name}: ${w.length} values for [${rows}, ${cols}]`);
  if (o.weights && o.weights.length !== cols) throw new RangeError(`${name}: ${o.weights.length} importance weights for ${cols} columns`);
  const ranks = ranksFor(o.ranks, rows, cols);
  const candidates: Candidate[] = [];
  const skipped: { type: string; why: string }[] = [];
  for (const c of o.choices) {
    const type = choiceName(c);
    const misfit = choiceMisfit(c, cols);
    if (misfit) {
      skipped.push({ type, why: misfit });
      continue;
    }
    let errors: Map<number, number>;
    try {
      ({ errors } = await lqSplit(w, rows, cols, c, ranks, { weights: o.weights, rowWeights: o.rowWeights, rounds: o.rounds, seed: o.seed, quantize: o.quantize }, undefined, name));
    } catch (e) {
      if (e instanceof QuantizeUnsupportedError || e instanceof ImatrixRequiredError) {
        skipped.push({ type, why: e.message });
        continue;
      }
      throw e;
    }
    const qb = quantBytes(c, rows, cols);
    for (const r of ranks) {
      const lb = loraBytes(r, rows, cols);
      candidates.push({ choice: c, type, rank: r, quantBytes: qb, loraBytes: lb, bytes: qb + lb, error: errors.get(r)! });
    }
  }
  return { candidates, skipped };
}
