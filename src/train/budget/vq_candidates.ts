// ReALLM under a bit budget, step 1 (`sub4 tune --method reallm --budget B`):
// the candidate configurations of one float weight W [O, I] — a learned
// codebook shape (d, k) × a LoRA rank r — with their bytes and the error of the
// ReALLM split at that configuration, for the knapsack of solve.ts.
//
// Shapes (the rule, stated here and in docs/architecture.md): d ∈ {2, 4, 8}
// dividing I; k = b·d for whole index bits per weight b ∈ {1, 2, 3, 4} (as
// `--bits B` reads, so every candidate is a shape the one-shape rule could
// also pick), with k ≤ 16 (AQLM's codes are at most int16) and 2^k < O·I/d
// (a table with as many entries as the matrix has vectors stores the matrix
// itself, not a codebook). Ranks: 0, 8, 16, 32, 64 capped at ⌊min(O, I)/2⌋
// (ranksFor, as the LQ-LoRA candidates), or the one --rank.
//
// Bytes, AQLM's storage (as src/train/reallm.ts counts it) with LoRA as
// candidates.ts counts it:
//   ⌈O·(I/d)·k / 8⌉   the codes, k bits each, packed per matrix
//   + 2·O             an f16 scale per output row
//   + 2·2^k·d         the f16 table
//   + 2·r·(O + I)     the LoRA factors at 16 bits per value (loraBytes)
// vqStorageBytes counts the same from a built VqTensor, so the plan's bytes are
// the built tensors' by construction (the test checks it from the state files).
//
// Error: ‖D_r·(W − Q − L)·D‖²_F with D = diag(√w) (column importance: the
// imatrix's per-column mean x², or the Fisher estimate's column sums) and D_r
// its row weights (Fisher only; 1 otherwise) — absolute, not relative, so that a
// matrix that matters more (larger importance) weighs more in the plan's sum,
// exactly as the LQ-LoRA candidates. It is ESTIMATED, for speed:
//  - the table is learned (encodeLearned, MEASURE_ITERS Lloyd iterations, not
//    the build's 20) on a seeded sample of whole rows holding at least
//    max(8·2^k, 4096) vectors (all rows when the matrix has fewer), then every
//    row of W is assigned to it (one nearest-entry pass over all vectors);
//  - L is the best rank-r fit of the weighted residual of that Q (one
//    randomized SVD at the largest rank, its truncations for the smaller ones:
//    for the range-finder's projection ‖M − U_rΣ_rV_rᵀ‖² = ‖M‖² − Σ_{j<r} s_j²
//    exactly), one round: no re-quantization of W − L.
// So the estimate is the error of a real (if cheaper) split of the whole matrix
// at that configuration; the build (reallmInit: the table learned on all rows,
// 20 iterations, up to 3 alternating rounds) starts from the same first round
// and keeps its best round, and its error is printed beside the plan's.
// Cost per shape: the sample's k-means (iterations × sample·2^k·d), one full
// assignment (O·I/d·2^k·d) and one SVD; through the GPU's assigner when given.
import { cpuAssign, encodeLearned, type Assigner } from '../../quant/vq/kmeans.ts';
import { dequantizeVq, type VqTensor } from '../../quant/vq/vqtensor.ts';
import { randomizedSvd } from '../lqlora.ts';
import { loraBytes, ranksFor } from './candidates.ts';

/** One learned-codebook shape. */
export interface VqChoice {
  dim: 2 | 4 | 8;
  /** Index bits k: 2^k entries. */
  bits: number;
}

/** Lloyd iterations of a measurement (the build runs reallmInit's 20). */
export const MEASURE_ITERS = 8;
/** Whole index bits per weight a candidate shape may have (k = b·d). */
export const VQ_INDEX_BITS_PER_WEIGHT: readonly number[] = [1, 2, 3, 4];

export function vqChoiceName(c: VqChoice): string {
  return `vq-d${c.dim}k${c.bits}`;
}

/** Parse a vqChoiceName back ("vq-d4k8"), or null. */
export function parseVqChoice(name: string): VqChoice | null {
  const m = /^vq-d([248])k(\d+)$/.exec(name);
  if (!m) return null;
  const bits = Number(m[2]);
  return bits >= 1 && bits <= 16 ? { dim: Number(m[1]) as 2 | 4 | 8, bits } : null;
}

/** The candidate shapes of a [rows, cols] matrix (see the file comment). */
export function vqShapes(rows: number, cols: number): VqChoice[] {
  const out: VqChoice[] = [];
  for (const dim of [2, 4, 8] as const) {
    if (cols % dim !== 0) continue;
    for (const b of VQ_INDEX_BITS_PER_WEIGHT) {
      const bits = b * dim;
      if (bits <= 16 && 2 ** bits < (rows * cols) / dim) out.push({ dim, bits });
    }
  }
  return out;
}

/** Storage bytes of the codebook part (codes, f16 row scales, f16 table). */
export function vqBytes(c: VqChoice, rows: number, cols: number): number {
  return Math.ceil((rows * (cols / c.dim) * c.bits) / 8) + 2 * rows + 2 * 2 ** c.bits * c.dim;
}

/** vqBytes of a built tensor: k = log2 of its table's entries (its padded index words are a layout, not storage). */
export function vqStorageBytes(q: VqTensor): number {
  const bits = Math.log2(q.codebook.size);
  if (!Number.isInteger(bits)) throw new RangeError(`a learned table of ${q.codebook.size} entries is not 2^k`);
  return vqBytes({ dim: q.codebook.dim as 2 | 4 | 8, bits }, q.rows, q.cols);
}

export interface VqCandidate {
  choice: VqChoice;
  /** vqChoiceName(choice). */
  type: string;
  rank: number;
  quantBytes: number;
  loraBytes: number;
  bytes: number;
  /** The estimated ‖D_r·(W − Q − L)·D‖²_F (see the file comment). */
  error: number;
}

export interface VqCandidateOptions {
  ranks: readonly number[];
  /** Per-column importance (length cols), or null. */
  weights: Float32Array | null;
  /** Per-row importance (length rows; the Fisher estimate's), or null. */
  rowWeights?: ArrayLike<number> | null;
  seed?: number;
  /** The shapes to measure (default vqShapes). */
  shapes?: readonly VqChoice[];
  assign?: Assigner;
}

/** Rows of the measurement sample for a table of 2^k entries of d weights (see the file comment). */
export function sampleRows(c: VqChoice, rows: number, cols: number): number {
  const vectors = Math.max(8 * 2 ** c.bits, 4096);
  return Math.min(rows, Math.ceil((vectors * c.dim) / cols));
}

/** A seeded choice of `m` of `rows` rows, ascending (partial Fisher–Yates over mulberry32). */
function pickRows(rows: number, m: number, seed: number): Uint32Array {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const perm = Uint32Array.from({ length: rows }, (_, i) => i);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(u() * (rows - i));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return perm.slice(0, m).sort();
}

/** √w, floored so that a column (row) nobody reads still counts a little (as candidates.ts columnScale). */
function scaleOf(w: ArrayLike<number> | null | undefined, n: number): Float64Array {
  const d = new Float64Array(n).fill(1);
  if (!w) return d;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += Math.max(w[i], 0) / n;
  const floor = Math.max(mean * 1e-6, 1e-30);
  for (let i = 0; i < n; i++) d[i] = Math.sqrt(Math.max(w[i], floor));
  return d;
}

/** W's codebook reconstruction at shape c: the table learned on a row sample, every row assigned to it. */
async function sampledVq(w: Float32Array, rows: number, cols: number, c: VqChoice, o: VqCandidateOptions, seed: number): Promise<Float32Array> {
  const m = sampleRows(c, rows, cols);
  const importance = o.weights ?? undefined;
  if (m === rows) return dequantizeVq((await encodeLearned(w, rows, cols, { dim: c.dim, bits: c.bits, importance, iters: MEASURE_ITERS, seed, assign: o.assign })).q);
  const picked = pickRows(rows, m, seed);
  const sample = new Float32Array(m * cols);
  picked.forEach((r, i) => sample.set(w.subarray(r * cols, (r + 1) * cols), i * cols));
  const table = (await encodeLearned(sample, m, cols, { dim: c.dim, bits: c.bits, importance, iters: MEASURE_ITERS, seed, assign: o.assign })).q.codebook.values;
  // Every row: absmax scale, nearest entry per vector under the same column weights (as encodeLearned).
  const d = c.dim;
  const P = cols / d;
  const x = new Float32Array(rows * cols);
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let a = 0;
    for (let k = 0; k < cols; k++) a = Math.max(a, Math.abs(w[r * cols + k]));
    scale[r] = a;
    if (a > 0) for (let k = 0; k < cols; k++) x[r * cols + k] = w[r * cols + k] / a;
  }
  const weights = importance ? Float32Array.from(importance) : new Float32Array(d).fill(1);
  const idx = await (o.assign ?? cpuAssign)({ x, n: rows * P, d, table, size: 2 ** c.bits, weights, positions: importance ? P : 1 });
  const dq = new Float32Array(rows * cols);
  for (let i = 0; i < dq.length; i++) dq[i] = Math.fround(scale[Math.floor(i / cols)] * table[idx[Math.floor(i / d)] * d + (i % d)]);
  return dq;
}

/** Every candidate of one matrix: each shape of vqShapes (or o.shapes) at each rank. */
export async function measureVqCandidates(w: Float32Array, rows: number, cols: number, o: VqCandidateOptions, name = 'weight'): Promise<VqCandidate[]> {
  if (w.length !== rows * cols) throw new RangeError(`${name}: ${w.length} values for [${rows}, ${cols}]`);
  if (o.weights && o.weights.length !== cols) throw new RangeError(`${name}: ${o.weights.length} importance weights for ${cols} columns`);
  if (o.rowWeights && o.rowWeights.length !== rows) throw new RangeError(`${name}: ${o.rowWeights.length} row weights for ${rows} rows`);
  const ranks = ranksFor(o.ranks, rows, cols);
  const dc = scaleOf(o.weights, cols);
  const dr = scaleOf(o.rowWeights, rows);
  const out: VqCandidate[] = [];
  const seed = o.seed ?? 0;
  for (const c of o.shapes ?? vqShapes(rows, cols)) {
    const dq = await sampledVq(w, rows, cols, c, o, seed * 7919 + c.dim * 17 + c.bits);
    const resid = new Float64Array(rows * cols);
    let total = 0;
    for (let i = 0; i < resid.length; i++) {
      resid[i] = (w[i] - dq[i]) * dc[i % cols] * dr[Math.floor(i / cols)];
      total += resid[i] * resid[i];
    }
    const top = Math.max(0, ...ranks);
    const s = top > 0 ? randomizedSvd(resid, rows, cols, top, { seed: seed * 7919 }).s : new Float64Array(0);
    const qb = vqBytes(c, rows, cols);
    for (const r of ranks) {
      let e = total;
      for (let j = 0; j < Math.min(r, s.length); j++) e -= s[j] * s[j];
      const lb = loraBytes(r, rows, cols);
      out.push({ choice: c, type: vqChoiceName(c), rank: r, quantBytes: qb, loraBytes: lb, bytes: qb + lb, error: Math.max(e, 0) });
    }
  }
  return out;
}
