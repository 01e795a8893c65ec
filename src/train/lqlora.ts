// LQ-LoRA / LoftQ initialisation (arXiv 2311.12023, 2310.08659): split an
// original weight W into a quantized base Q and a rank-r correction L so that
// dequant(Q) + L ≈ W better than quantizing W alone. Alternating rounds:
//   Q ← quantize(W − L);   L ← rank-r truncated SVD of (W − dequant(Q))
// starting from L = 0 (round 1 is plain RTN). The LoRA factors then carry L:
// the adapter adds s·B·A (s = alpha / r), so B = U·√(Σ/s), A = √(Σ/s)·Vᵀ.
// The SVD is randomized (Halko et al.): a seeded Gaussian sketch of r + p
// columns, a few power iterations re-orthonormalized each time, then the small
// k×k eigenproblem by cyclic Jacobi, all in f64 on the CPU. Fine for small
// models; large ones want a GPU version.
//
// Data-aware LQ-LoRA (§3.3): with an importance F ≥ 0 per element (a diagonal
// Fisher, or an imatrix's per-column mean x²) the split minimises
// ‖√F ⊙ (W − Q − L)‖. The weighted low-rank problem has no closed form, so F is
// replaced by its rank-1 row/column form F ≈ r·cᵀ (r, c: row and column sums,
// up to a constant), under which it has one: with D_r = diag(√r), D_c = diag(√c),
//   L = D_r⁻¹ · SVD_k(D_r·R·D_c) · D_c⁻¹      (exact for a rank-1 F)
// and the quantizer's clip search weighs its error by c (the row weight is
// constant within a row's groups, so it changes nothing there).
import { rng } from '../gpu/random.ts';
import { dequantizeQ, type QTensor } from '../quant/qtensor.ts';
import { quantizeRtn } from '../quant/quantize/rtn.ts';
import { quantizeWeight, type QuantizeOptions } from './quantize_model.ts';

export interface Svd {
  /** [rows, k] column-major by component: u[i * k + j]. */
  u: Float64Array;
  s: Float64Array;
  /** [cols, k]. */
  v: Float64Array;
  k: number;
}

/** Seeded standard normals (Box–Muller over the shared uniform generator). */
function gaussian(n: number, seed: number): Float64Array {
  const u = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    const t = 2 * Math.PI * u();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

/** Orthonormalize the k columns of Y [n, k] in place (modified Gram–Schmidt, twice for stability). */
function orthonormalize(y: Float64Array, n: number, k: number): void {
  for (let pass = 0; pass < 2; pass++)
    for (let j = 0; j < k; j++) {
      for (let p = 0; p < j; p++) {
        let d = 0;
        for (let i = 0; i < n; i++) d += y[i * k + p] * y[i * k + j];
        for (let i = 0; i < n; i++) y[i * k + j] -= d * y[i * k + p];
      }
      let norm = 0;
      for (let i = 0; i < n; i++) norm += y[i * k + j] ** 2;
      norm = Math.sqrt(norm);
      // A column in the span of the previous ones (rank-deficient M) becomes 0: it adds nothing.
      for (let i = 0; i < n; i++) y[i * k + j] = norm > 1e-300 ? y[i * k + j] / norm : 0;
    }
}

/** out [rows, k] = M [rows, cols] · X [cols, k]; or (transpose) out [cols, k] = Mᵀ · X [rows, k]. */
function mul(m: Float64Array, rows: number, cols: number, x: Float64Array, k: number, transpose: boolean): Float64Array {
  const out = new Float64Array((transpose ? cols : rows) * k);
  for (let i = 0; i < rows; i++)
    for (let c = 0; c < cols; c++) {
      const a = m[i * cols + c];
      if (a === 0) continue;
      if (transpose) for (let j = 0; j < k; j++) out[c * k + j] += a * x[i * k + j];
      else for (let j = 0; j < k; j++) out[i * k + j] += a * x[c * k + j];
    }
  return out;
}

/** Eigen-decomposition of a symmetric k×k matrix by cyclic Jacobi: values and vectors (columns of w), descending. */
function jacobiEigen(a: Float64Array, k: number): { values: Float64Array; w: Float64Array } {
  const w = new Float64Array(k * k);
  for (let i = 0; i < k; i++) w[i * k + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < k; p++) for (let q = p + 1; q < k; q++) off += a[p * k + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < k; p++)
      for (let q = p + 1; q < k; q++) {
        const apq = a[p * k + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * k + q] - a[p * k + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let r = 0; r < k; r++) {
          const arp = a[r * k + p];
          const arq = a[r * k + q];
          a[r * k + p] = c * arp - s * arq;
          a[r * k + q] = s * arp + c * arq;
        }
        for (let r = 0; r < k; r++) {
          const apr = a[p * k + r];
          const aqr = a[q * k + r];
          a[p * k + r] = c * apr - s * aqr;
          a[q * k + r] = s * apr + c * aqr;
        }
        for (let r = 0; r < k; r++) {
          const wrp = w[r * k + p];
          const wrq = w[r * k + q];
          w[r * k + p] = c * wrp - s * wrq;
          w[r * k + q] = s * wrp + c * wrq;
        }
      }
  }
  const order = Array.from({ length: k }, (_, i) => i).sort((i, j) => a[j * k + j] - a[i * k + i]);
  const values = Float64Array.from(order, (i) => a[i * k + i]);
  const sorted = new Float64Array(k * k);
  for (let r = 0; r < k; r++) order.forEach((i, j) => (sorted[r * k + j] = w[r * k + i]));
  return { values, w: sorted };
}

/** Rank-`rank` truncated SVD of M [rows, cols] by a seeded randomized range finder. */
export function randomizedSvd(m: Float64Array, rows: number, cols: number, rank: number, o: { seed?: number; oversample?: number; powerIters?: number } = {}): Svd {
  if (!Number.isInteger(rank) || rank < 1) throw new RangeError(`randomizedSvd: rank ${rank} is not a positive integer`);
  if (m.length !== rows * cols) throw new RangeError(`randomizedSvd: ${m.length} values for [${rows}, ${cols}]`);
  const k = Math.min(rank + (o.oversample ?? 8), rows, cols);
  let q = mul(m, rows, cols, gaussian(cols * k, o.seed ?? 0), k, false); // [rows, k]
  orthonormalize(q, rows, k);
  for (let it = 0; it < (o.powerIters ?? 2); it++) {
    const z = mul(m, rows, cols, q, k, true); // [cols, k]
    orthonormalize(z, cols, k);
    q = mul(m, rows, cols, z, k, false);
    orthonormalize(q, rows, k);
  }
  const bt = mul(m, rows, cols, q, k, true); // Bᵀ [cols, k], B = Qᵀ M
  const c = new Float64Array(k * k); // B·Bᵀ
  for (let i = 0; i < cols; i++) for (let p = 0; p < k; p++) for (let r = 0; r < k; r++) c[p * k + r] += bt[i * k + p] * bt[i * k + r];
  const { values, w } = jacobiEigen(c, k);
  const r = Math.min(rank, k);
  const s = Float64Array.from(values.subarray(0, r), (x) => Math.sqrt(Math.max(x, 0)));
  const u = new Float64Array(rows * r);
  const v = new Float64Array(cols * r);
  for (let i = 0; i < rows; i++) for (let j = 0; j < r; j++) for (let p = 0; p < k; p++) u[i * r + j] += q[i * k + p] * w[p * k + j];
  for (let i = 0; i < cols; i++)
    for (let j = 0; j < r; j++) {
      if (s[j] === 0) continue;
      let d = 0;
      for (let p = 0; p < k; p++) d += bt[i * k + p] * w[p * k + j];
      v[i * r + j] = d / s[j];
    }
  return { u, s, v, k: r };
}

export interface LqLoraOptions extends QuantizeOptions {
  rank: number;
  /** LoRA alpha; the adapter's scale is alpha / rank (default alpha = rank). */
  alpha?: number;
  /** Alternating rounds (default 3; 1 = plain RTN with the SVD of its error). */
  rounds?: number;
  seed?: number;
  /** Data-aware split (§3.3): the rank-1 form of the importance, row [rows] and column [cols] weights. */
  weights?: RowColWeights;
}

/** Rank-1 importance F ≈ row·colᵀ; either side may be absent (all ones). */
export interface RowColWeights {
  row?: ArrayLike<number>;
  col?: ArrayLike<number>;
}

/**
 * √ of the weights, floored at 1e-6 of their mean (a zero weight would make
 * D⁻¹ infinite; such an entry is left nearly free, as the weighted problem has it).
 */
function sqrtWeights(w: ArrayLike<number> | undefined, n: number, what: string): Float64Array {
  const out = new Float64Array(n).fill(1);
  if (!w) return out;
  if (w.length !== n) throw new RangeError(`weighted LQ-LoRA: ${w.length} ${what} weights for ${n} ${what}s`);
  let mean = 0;
  for (let i = 0; i < n; i++) {
    if (!(w[i] >= 0) || !Number.isFinite(w[i])) throw new RangeError(`weighted LQ-LoRA: ${what} weight ${w[i]} at ${i} is not finite and ≥ 0`);
    mean += w[i] / n;
  }
  const floor = mean > 0 ? mean * 1e-6 : 1;
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(Math.max(w[i], floor));
  return out;
}

/** Reduce a per-element importance F [rows, cols] to its row and column sums (the rank-1 form r·cᵀ / ΣF). */
export function rowColForm(f: ArrayLike<number>, rows: number, cols: number): { row: Float64Array; col: Float64Array } {
  if (f.length !== rows * cols) throw new RangeError(`rowColForm: ${f.length} values for [${rows}, ${cols}]`);
  const row = new Float64Array(rows);
  const col = new Float64Array(cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) {
      const v = f[i * cols + j];
      row[i] += v;
      col[j] += v;
    }
  return { row, col };
}

/**
 * The best rank-`rank` L under ‖D_r·(R − L)·D_c‖_F (exact up to the randomized
 * SVD): L = D_r⁻¹·SVD(D_r·R·D_c)·D_c⁻¹, returned as an Svd of L's factors
 * (u already divided by √r, v by √c; s the weighted singular values).
 */
export function weightedLowRank(r: Float64Array, rows: number, cols: number, rank: number, w: RowColWeights, o: { seed?: number } = {}): Svd {
  const dr = sqrtWeights(w.row, rows, 'row');
  const dc = sqrtWeights(w.col, cols, 'column');
  const m = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) m[i * cols + j] = dr[i] * r[i * cols + j] * dc[j];
  const svd = randomizedSvd(m, rows, cols, rank, o);
  for (let i = 0; i < rows; i++) for (let j = 0; j < svd.k; j++) svd.u[i * svd.k + j] /= dr[i];
  for (let c = 0; c < cols; c++) for (let j = 0; j < svd.k; j++) svd.v[c * svd.k + j] /= dc[c];
  return svd;
}

/** √(Σ r_i c_j E²_ij / Σ r_i c_j W²_ij): the relative error under the rank-1 importance (1s where absent). */
export function weightedRelError(e: ArrayLike<number>, w: ArrayLike<number>, rows: number, cols: number, wt: RowColWeights = {}): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < rows; i++) {
    const ri = wt.row ? wt.row[i] : 1;
    for (let j = 0; j < cols; j++) {
      const f = ri * (wt.col ? wt.col[j] : 1);
      num += f * e[i * cols + j] ** 2;
      den += f * w[i * cols + j] ** 2;
    }
  }
  return Math.sqrt(num / (den || 1));
}

export interface LqLoraInit {
  q: QTensor;
  /** LoRA A [R, I] and B [O, R], with s·B·A ≈ W − dequant(q). */
  a: Float32Array;
  b: Float32Array;
  /** ‖W − dequant(Q) − L‖_F / ‖W‖_F after each round. */
  errors: number[];
  /** With `weights`: the same under the rank-1 importance (weightedRelError) after each round. */
  weightedErrors?: number[];
}

/** Alternating quantize / low-rank split of one weight [rows, cols] (see the file comment). */
export function lqloraInit(w: Float32Array, rows: number, cols: number, o: LqLoraOptions, name = 'weight'): LqLoraInit {
  const R = o.rank;
  const scale = (o.alpha ?? R) / R;
  const rounds = o.rounds ?? 3;
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`${name}: LQ-LoRA rounds ${rounds} is not a positive integer`);
  let wNorm = 0;
  for (const x of w) wNorm += x * x;
  wNorm = Math.sqrt(wNorm) || 1;
  const low = new Float64Array(rows * cols); // L
  const target = new Float32Array(rows * cols);
  const resid = new Float64Array(rows * cols);
  const errors: number[] = [];
  const wt = o.weights;
  const weightedErrors: number[] = [];
  if (wt && ![2, 3, 4].includes(o.bits)) throw new RangeError(`${name}: bits ${o.bits} is not 2, 3 or 4`);
  const colW = wt?.col ? Float64Array.from(sqrtWeights(wt.col, cols, 'column'), (x) => x * x) : undefined;
  let q!: QTensor;
  let svd!: Svd;
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < target.length; i++) target[i] = w[i] - low[i];
    // Weighted: the same quantizer as quantizeWeight (asymmetric, clip search at 2–3 bits), its error weighted by column.
    q = colW ? quantizeRtn(target, rows, cols, { bits: o.bits, groupSize: o.groupSize, symmetric: false, mse: o.bits <= 3, weights: colW }) : quantizeWeight(target, rows, cols, o, name);
    const dq = dequantizeQ(q);
    for (let i = 0; i < resid.length; i++) resid[i] = w[i] - dq[i];
    const seed = (o.seed ?? 0) * 7919 + round;
    svd = wt ? weightedLowRank(resid, rows, cols, R, wt, { seed }) : randomizedSvd(resid, rows, cols, R, { seed });
    low.fill(0);
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < svd.k; j++) {
        const us = svd.u[i * svd.k + j] * svd.s[j];
        for (let c = 0; c < cols; c++) low[i * cols + c] += us * svd.v[c * svd.k + j];
      }
    let e = 0;
    for (let i = 0; i < resid.length; i++) e += (resid[i] - low[i]) ** 2;
    errors.push(Math.sqrt(e) / wNorm);
    if (wt) weightedErrors.push(weightedRelError(Float64Array.from(resid, (x, i) => x - low[i]), w, rows, cols, wt));
  }
  // s·B·A = L with the singular values split evenly between the factors.
  const a = new Float32Array(R * cols);
  const b = new Float32Array(rows * R);
  for (let j = 0; j < svd.k; j++) {
    const f = Math.sqrt(svd.s[j] / scale);
    for (let c = 0; c < cols; c++) a[j * cols + c] = f * svd.v[c * svd.k + j];
    for (let i = 0; i < rows; i++) b[i * R + j] = f * svd.u[i * svd.k + j];
  }
  return wt ? { q, a, b, errors, weightedErrors } : { q, a, b, errors };
}
