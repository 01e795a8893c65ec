// ReALLM's learned vector-quantized codebook (arXiv 2405.13155; the authors'
// code, LisaBedin/ReALLM, quantizes with k-means codebooks over short vectors
// under absmax scales): one table of C = 2^k entries of d ∈ {2, 4, 8} weights
// per matrix, one f32 scale per output row, no signs, no offset. That is
// AQLM's layout with one codebook, in_group_size = d, out_group_size = 1
// (shared/docs/formats-2.md §3), so the result exports there.
//
//   scale[r] = max_k |W[r,k]|                       (absmax; 0 for an all-zero row)
//   x[v]     = W[r, v·d .. v·d+d−1] / scale[r]      (N = rows·cols/d vectors in [−1, 1]^d)
//   minimize Σ_v Σ_j  s_r² · a[(v·d + j) mod cols] · (x[v,j] − table[idx[v], j])²
//
// with a = the per-column importance (an imatrix; 1 without one). The s_r²
// factor makes the objective the (weighted) squared error in weight space, so
// the error printed per iteration is the one Lloyd's algorithm decreases; it
// does not change any vector's nearest entry (one factor per vector), only how
// much each vector pulls its centroid.
//
// Initialisation: k-means++ (D² sampling under the same weighted distance) on
// a seeded sample of vectors. It costs sample·C·d on the CPU, sequential in C;
// past KMEANSPP_BUDGET (large tables: k = 16 is 65536 entries) the table
// starts instead as C distinct vectors of the seeded sample (Forgy), and the
// result says which. Then Lloyd iterations over all vectors:
//  - assignment: nearest entry per vector. This is the O(N·C·d) step, a
//    distance "matmul"; it goes through an Assigner, the CPU one below or the
//    GPU's (src/gpu/kernels/vq_assign.ts, gpuAssigner: quant may not import gpu).
//  - update: weighted means per entry and element, on the CPU. It is O(N·d),
//    1/C of the assignment, and a scatter-add into C·d sums: on the GPU that
//    needs f32 atomics (WGSL has none) or a sort by entry, and the float sums
//    would depend on the order of the adds. On the CPU it is exact (f64) and
//    deterministic, and the assignment's copy of the table goes up each round
//    anyway.
//  - empty entries are re-seeded deterministically: the e-th empty entry (in
//    entry order) takes the vector with the e-th largest weighted error (ties:
//    lower vector index). That vector's error becomes 0, so the objective
//    still does not increase.
// Entries are rounded to f32 after every update (the table is f32), so the
// distances the assignment sees are the table's own.
import { dequantizeVq, emptyVqTensor, indexBitsFor, setIndex, type VqDim, type VqTensor } from './vqtensor.ts';

/** One assignment problem: the nearest entry of `table` for every vector of `x`. */
export interface AssignProblem {
  /** N·d scaled vectors, vector v at v·d. */
  x: Float32Array;
  n: number;
  d: 2 | 4 | 8;
  /** C·d entries (f32). */
  table: Float32Array;
  size: number;
  /** P·d element weights; vector v uses row v mod P (P = cols/d, the vector's position in its matrix row, for per-column importance; 1 without). */
  weights: Float32Array;
  positions: number;
}

/** argmin_e Σ_j w[v mod P, j]·(x[v,j] − table[e,j])² per vector; ties go to the lower entry. */
export type Assigner = (p: AssignProblem) => Uint32Array | Promise<Uint32Array>;

export interface LearnedOptions {
  /** Weights per vector (d). */
  dim: 2 | 4 | 8;
  /** Index bits: the table has 2^bits entries (1..16). */
  bits: number;
  /** Per-column importance (length cols, ≥ 0, finite; e.g. an imatrix's Σx²/n). */
  importance?: Float32Array;
  /** Lloyd iterations after the initialisation (default 20). */
  iters?: number;
  seed?: number;
  /** Vectors drawn for k-means++ (default min(N, 8·C)); its cost is sample·C·d. */
  sample?: number;
  /** 'kmeans++', 'sample' (C sampled vectors), or 'auto' (default: k-means++ while sample·C·d ≤ KMEANSPP_BUDGET). */
  init?: 'kmeans++' | 'sample' | 'auto';
  /** Nearest-entry search; default the CPU's (cpuAssign). */
  assign?: Assigner;
}

export interface LearnedResult {
  /** Learned table ('learned'), unsigned, one scale per row (groupSize = cols), offset 0. */
  q: VqTensor;
  /** Final ‖W − Ŵ‖ / ‖W‖ (unweighted), Ŵ = dequantizeVq(q). */
  error: number;
  /** Final √(Σ a·(W − Ŵ)² / Σ a·W²), a = importance (= error without one). */
  weightedError: number;
  /** The weighted error after each assignment: [after init, after iteration 1, …]; non-increasing. */
  errors: number[];
  /** k/d index bits + 32/cols for the f32 row scale (what an AQLM export with an f16 scale stores: k/d + 16/cols). */
  bitsPerWeight: number;
  /** The table's own cost spread over the matrix: C·d·32 / (rows·cols) (not in bitsPerWeight). */
  tableBitsPerWeight: number;
  /** The initialisation used. */
  init: 'kmeans++' | 'sample';
}

/** Multiply-adds k-means++ may spend on the CPU under init 'auto' (about a second or two of JavaScript). */
export const KMEANSPP_BUDGET = 2 ** 30;

/** A bad request to the learned-codebook encoder (shape, dim, bits, importance). */
export class LearnedCodebookError extends RangeError {
  override name = 'LearnedCodebookError';
}

/** mulberry32 (as src/gpu/random.ts, which quant may not import). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The CPU assigner: direct weighted squared distances in f64, first minimum wins. */
export function cpuAssign(p: AssignProblem): Uint32Array {
  const { x, n, d, table, size, weights, positions } = p;
  const out = new Uint32Array(n);
  for (let v = 0; v < n; v++) {
    const xo = v * d;
    const wo = (v % positions) * d;
    let best = Infinity;
    let bi = 0;
    for (let e = 0; e < size; e++) {
      const co = e * d;
      let s = 0;
      for (let j = 0; j < d; j++) {
        const t = x[xo + j] - table[co + j];
        s += weights[wo + j] * t * t;
      }
      if (s < best) {
        best = s;
        bi = e;
      }
    }
    out[v] = bi;
  }
  return out;
}

function check(W: Float32Array, rows: number, cols: number, o: LearnedOptions): void {
  const bad = (m: string) => new LearnedCodebookError(`encodeLearned: ${m}`);
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) throw bad(`bad shape [${rows}, ${cols}]`);
  if (W.length !== rows * cols) throw bad(`${W.length} values for [${rows}, ${cols}]`);
  if (![2, 4, 8].includes(o.dim)) throw bad(`vector length ${o.dim} is not 2, 4 or 8`);
  if (cols % o.dim !== 0) throw bad(`${cols} columns are not a multiple of the vector length ${o.dim} (AQLM: in_features % in_group_size == 0)`);
  if (!Number.isInteger(o.bits) || o.bits < 1 || o.bits > 16) throw bad(`index bits ${o.bits} not in 1..16`);
  if (o.iters !== undefined && (!Number.isInteger(o.iters) || o.iters < 0)) throw bad(`iterations ${o.iters}`);
  if (o.sample !== undefined && (!Number.isInteger(o.sample) || o.sample < 1)) throw bad(`sample ${o.sample}`);
  if (o.init !== undefined && !['kmeans++', 'sample', 'auto'].includes(o.init)) throw bad(`initialisation ${o.init}`);
  for (let i = 0; i < W.length; i++) if (!Number.isFinite(W[i])) throw bad(`weight ${i} is ${W[i]}`);
  const a = o.importance;
  if (a) {
    if (a.length !== cols) throw bad(`importance has ${a.length} values for ${cols} columns`);
    let pos = false;
    for (let i = 0; i < cols; i++) {
      if (!(Number.isFinite(a[i]) && a[i] >= 0)) throw bad(`importance ${i} is ${a[i]}`);
      pos ||= a[i] > 0;
    }
    if (!pos) throw bad('importance is zero everywhere');
  }
}

/** Weighted distance of vector v to entry e, without the row factor. */
function dist(x: Float32Array, v: number, table: Float32Array, e: number, w: Float32Array, wo: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) {
    const t = x[v * d + j] - table[e * d + j];
    s += w[wo + j] * t * t;
  }
  return s;
}

/** k-means++ over a seeded sample: C entries (copies of the last pick once every sampled vector is an entry); plusPlus false: the sample's first C vectors. */
function initTable(x: Float32Array, n: number, d: number, rowW: Float64Array, w: Float32Array, P: number, WP: number, C: number, sample: number, seed: number, plusPlus: boolean): Float32Array {
  const r = rng(seed);
  // A seeded sample without repeats: the first `m` of a partial Fisher–Yates shuffle.
  const m = Math.min(n, sample);
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(r() * (n - i));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const S = perm.subarray(0, m);
  const table = new Float32Array(C * d);
  const put = (e: number, v: number) => table.set(x.subarray(v * d, v * d + d), e * d);
  if (!plusPlus) {
    for (let e = 0; e < C; e++) put(e, S[e % m]); // repeats when m < C: empty entries, re-seeded by Lloyd
    return table;
  }
  // Vectors with row factor 0 (all-zero rows) never matter; start from one that does, if any.
  let first = S[Math.floor(r() * m)];
  for (let i = 0; i < m && rowW[Math.floor(first / P)] === 0; i++) first = S[i];
  put(0, first);
  const D = new Float64Array(m);
  for (let i = 0; i < m; i++) D[i] = rowW[Math.floor(S[i] / P)] * dist(x, S[i], table, 0, w, (S[i] % WP) * d, d);
  let last = first;
  for (let e = 1; e < C; e++) {
    let total = 0;
    for (let i = 0; i < m; i++) total += D[i];
    if (total <= 0) {
      put(e, last); // every sampled vector is already an entry: duplicates, re-seeded as empty entries later
      continue;
    }
    let t = r() * total;
    let pick = m - 1;
    for (let i = 0; i < m; i++) {
      t -= D[i];
      if (t < 0 && D[i] > 0) {
        pick = i;
        break;
      }
    }
    while (D[pick] === 0 && pick > 0) pick--; // rounding ran past the end: the last vector with weight
    last = S[pick];
    put(e, last);
    for (let i = 0; i < m; i++) {
      const v = S[i];
      const dv = rowW[Math.floor(v / P)] * dist(x, v, table, e, w, (v % WP) * d, d);
      if (dv < D[i]) D[i] = dv;
    }
  }
  return table;
}

/** Learn a table of 2^bits vectors of `dim` weights for W [rows, cols] and encode W with it (see the file's head). */
export async function encodeLearned(W: Float32Array, rows: number, cols: number, opts: LearnedOptions): Promise<LearnedResult> {
  check(W, rows, cols, opts);
  const d = opts.dim;
  const C = 2 ** opts.bits;
  const P = cols / d;
  const n = rows * P;
  const iters = opts.iters ?? 20;
  const assign = opts.assign ?? cpuAssign;
  // Per-row absmax scales and scaled vectors.
  const scale = new Float32Array(rows);
  const x = new Float32Array(n * d);
  const rowW = new Float64Array(rows); // s_r², the row's factor in the weight-space error
  for (let r = 0; r < rows; r++) {
    let a = 0;
    for (let k = 0; k < cols; k++) a = Math.max(a, Math.abs(W[r * cols + k]));
    scale[r] = a;
    rowW[r] = a * a;
    if (a > 0) for (let k = 0; k < cols; k++) x[r * cols + k] = W[r * cols + k] / a;
  }
  // Element weights per position: importance of column p·d + j (without importance: one row of ones, WP = 1).
  const WP = opts.importance ? P : 1;
  const w = new Float32Array(WP * d);
  for (let k = 0; k < WP * d; k++) w[k] = opts.importance ? opts.importance[k] : 1;
  // Denominator of the weighted relative error: Σ a·W².
  let norm = 0;
  for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) norm += w[k % (WP * d)] * W[r * cols + k] ** 2;
  if (norm === 0) norm = 1; // an all-zero matrix (or zero importance on its non-zeros): absolute error

  const sample = Math.min(n, opts.sample ?? 8 * C);
  const init = opts.init === 'kmeans++' || opts.init === 'sample' ? opts.init : sample * C * d <= KMEANSPP_BUDGET ? 'kmeans++' : 'sample';
  const table = initTable(x, n, d, rowW, w, P, WP, C, sample, opts.seed ?? 0, init === 'kmeans++');
  const errors: number[] = [];
  const err = new Float64Array(n);
  let idx = new Uint32Array(n);
  const num = new Float64Array(C * d);
  const den = new Float64Array(C * d);
  const count = new Uint32Array(C);
  for (let it = 0; ; it++) {
    idx = Uint32Array.from(await assign({ x, n, d, table, size: C, weights: w, positions: WP }));
    if (idx.length !== n) throw new RangeError(`encodeLearned: the assigner returned ${idx.length} indices for ${n} vectors`);
    let total = 0;
    for (let v = 0; v < n; v++) {
      if (!(idx[v] < C)) throw new RangeError(`encodeLearned: the assigner returned entry ${idx[v]} of ${C}`);
      err[v] = rowW[Math.floor(v / P)] * dist(x, v, table, idx[v], w, (v % WP) * d, d);
      total += err[v];
    }
    errors.push(Math.sqrt(total / norm));
    if (it === iters) break;
    // Update: weighted means per entry and element (an element with no weight keeps its value).
    num.fill(0);
    den.fill(0);
    count.fill(0);
    for (let v = 0; v < n; v++) {
      const e = idx[v];
      const f = rowW[Math.floor(v / P)];
      count[e]++;
      for (let j = 0; j < d; j++) {
        const a = f * w[(v % WP) * d + j];
        num[e * d + j] += a * x[v * d + j];
        den[e * d + j] += a;
      }
    }
    for (let i = 0; i < C * d; i++) if (den[i] > 0) table[i] = num[i] / den[i];
    // Empty entries: the vectors with the largest errors, in order.
    const empty: number[] = [];
    for (let e = 0; e < C; e++) if (count[e] === 0) empty.push(e);
    if (empty.length) {
      const order = Array.from({ length: n }, (_, v) => v).filter((v) => err[v] > 0);
      order.sort((a, b) => err[b] - err[a] || a - b);
      for (let i = 0; i < empty.length && i < order.length; i++) table.set(x.subarray(order[i] * d, order[i] * d + d), empty[i] * d);
    }
  }

  const q = emptyVqTensor(rows, cols, { name: 'learned', dim: d as VqDim, size: C, values: table }, cols, false, indexBitsFor(C));
  q.scale.set(scale);
  for (let v = 0; v < n; v++) setIndex(q, Math.floor(v / P), v % P, idx[v]);
  // Errors of the stored tensor, as dequantizeVq rebuilds it.
  let e2 = 0;
  let ew = 0;
  let n2 = 0;
  for (let r = 0; r < rows; r++)
    for (let k = 0; k < cols; k++) {
      const v = r * P + Math.floor(k / d);
      const t = W[r * cols + k] - Math.fround(scale[r] * table[idx[v] * d + (k % d)]);
      e2 += t * t;
      ew += w[k % (WP * d)] * t * t;
      n2 += W[r * cols + k] ** 2;
    }
  return {
    q,
    error: Math.sqrt(e2 / (n2 || 1)),
    weightedError: Math.sqrt(ew / norm),
    errors,
    bitsPerWeight: opts.bits / d + 32 / cols,
    tableBitsPerWeight: (C * d * 32) / (rows * cols),
    init,
  };
}

/** ‖W − dequantizeVq(q)‖ / ‖W‖, optionally under per-column importance (for checks; f64 sums). */
export function vqRelativeError(W: Float32Array, q: VqTensor, importance?: Float32Array): number {
  const dq = dequantizeVq(q);
  let e = 0;
  let s = 0;
  for (let i = 0; i < W.length; i++) {
    const a = importance ? importance[i % q.cols] : 1;
    e += a * (W[i] - dq[i]) ** 2;
    s += a * W[i] ** 2;
  }
  return Math.sqrt(e / (s || 1));
}
