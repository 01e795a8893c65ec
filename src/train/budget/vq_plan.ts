// ReALLM under a bit budget over a whole model (`sub4 tune --method reallm
// --budget B`): measure every linear layer's learned-codebook candidates
// (vq_candidates.ts: shape (d, k) × LoRA rank), solve the exact knapsack
// (solve.ts), then build each layer at its chosen configuration with the
// ReALLM split (reallmInit; rank 0: the codebook alone). As plan.ts, the
// weights counted are the linear layers' and the rest stays outside the budget.
// The bytes of the built layers are the plan's exactly (they depend only on the
// shape and the rank); the errors are the plan's estimates and, per row,
// `builtError` the build's own (same weighting), printed side by side.
//
// One shared shape (`shared`, asked for by --format aqlm: AQLM's
// quantization_config holds one in_group_size and nbits_per_codebook per
// model): only the shapes every matrix has are measured, the knapsack is solved
// once per shape with every matrix held to it (ranks still per matrix), and
// the plan with the least total error is kept.
import type { LoadedModel } from '../../io/loaded_model.ts';
import type { Imatrix } from '../../io/imatrix/index.ts';
import type { LinearRole } from '../../arch/params.ts';
import { encodeLearned, type Assigner } from '../../quant/vq/kmeans.ts';
import { dequantizeVq, type VqTensor } from '../../quant/vq/vqtensor.ts';
import type { RowColWeights } from '../lqlora.ts';
import { reallmInit } from '../reallm.ts';
import type { LoraStart } from '../setup.ts';
import { layerInput, layerSeed, linears, type BudgetPlan, type PlanRow } from './plan.ts';
import { BudgetError, bitsPerWeight, solveBudget, type Solution } from './solve.ts';
import { measureVqCandidates, parseVqChoice, vqChoiceName, vqShapes, type VqCandidate, type VqChoice } from './vq_candidates.ts';
import { ranksFor } from './candidates.ts';

export interface VqBudgetOptions {
  budget: number;
  ranks: readonly number[];
  seed: number;
  imatrix: Imatrix | null;
  fisher?: ReadonlyMap<string, RowColWeights> | null;
  /** One (d, k) for every matrix (AQLM export). */
  shared?: boolean;
  assign?: Assigner;
}

/** Measure and solve (BudgetError when the budget cannot hold the cheapest codebook of every matrix). */
export async function planVqBudget(file: LoadedModel, o: VqBudgetOptions, onLayer?: (done: number, total: number) => void): Promise<BudgetPlan> {
  const ps = linears(file);
  let shapes: VqChoice[] | undefined;
  if (o.shared) {
    const per = ps.map((p) => new Set(vqShapes(p.shape[0], p.shape[1]).map(vqChoiceName)));
    shapes = vqShapes(ps[0].shape[0], ps[0].shape[1]).filter((c) => per.every((s) => s.has(vqChoiceName(c))));
    if (shapes.length === 0) throw new BudgetError(`${file.name}: no codebook shape (d, k) fits every linear layer, and one shared shape was asked for (--format aqlm: one in_group_size and nbits_per_codebook per model)`);
  }
  const groups: VqCandidate[][] = [];
  const meta: { norm: number; seed: number; rows: number; cols: number }[] = [];
  let weightsCount = 0;
  for (const p of ps) {
    const { t, w, weights, rowWeights } = await layerInput(file, p.name, o.imatrix, o.fisher, 'ReALLM under a budget');
    const [rows, cols] = t.shape;
    weightsCount += rows * cols;
    const seed = layerSeed(o.seed, p.layer!, p.role as LinearRole);
    const g = await measureVqCandidates(w, rows, cols, { ranks: o.ranks, weights, rowWeights, seed, shapes, assign: o.assign }, p.name);
    if (g.length === 0) throw new BudgetError(`${p.name}: [${rows}, ${cols}] has no learned-codebook shape (${cols} inputs: no vector length 2, 4 or 8 divides it, or too few vectors for a 2^d-entry table)`);
    groups.push(g);
    let norm = 0;
    for (let i = 0; i < w.length; i++) norm += w[i] * w[i] * (weights ? weights[i % cols] : 1) * (rowWeights ? rowWeights[Math.floor(i / cols)] : 1);
    meta.push({ norm, seed, rows, cols });
    onLayer?.(groups.length, ps.length);
  }
  const maxBytes = Math.floor((o.budget * weightsCount) / 8);
  let sol: Solution;
  if (shapes) {
    let best: Solution | null = null;
    let least = Infinity;
    for (const c of shapes) {
      const only = groups.map((g) => g.filter((x) => x.type === vqChoiceName(c)));
      try {
        const s = solveBudget(only, maxBytes, weightsCount, file.name);
        // Indices back into the full groups.
        const choice = s.choice.map((i, k) => groups[k].indexOf(only[k][i]));
        if (!best || s.error < best.error) best = { ...s, choice };
      } catch (e) {
        if (!(e instanceof BudgetError)) throw e;
        least = Math.min(least, only.reduce((t, g) => t + Math.min(...g.map((x) => x.bytes)), 0));
      }
    }
    if (!best)
      throw new BudgetError(
        `${file.name}: a budget of ${bitsPerWeight(maxBytes, weightsCount).toFixed(4)} bits per weight holds no plan with one codebook shape for every matrix (--format aqlm); the cheapest needs ${bitsPerWeight(least, weightsCount).toFixed(4)} bits per weight: raise --budget to at least ${(Math.ceil(bitsPerWeight(least, weightsCount) * 1e4) / 1e4).toFixed(4)}`,
      );
    sol = best;
  } else sol = solveBudget(groups, maxBytes, weightsCount, file.name);
  const rows: PlanRow[] = ps.map((p, k) => {
    const c = groups[k][sol.choice[k]];
    return { name: p.name, layer: p.layer!, role: p.role as LinearRole, rows: meta[k].rows, cols: meta[k].cols, type: c.type, rank: c.rank, quantBytes: c.quantBytes, loraBytes: c.loraBytes, bytes: c.bytes, error: c.error, norm: meta[k].norm, sketchRank: Math.max(0, ...ranksFor(o.ranks, meta[k].rows, meta[k].cols)), seed: meta[k].seed };
  });
  return { budget: o.budget, rounds: 1, imatrix: !o.fisher && o.imatrix !== null, fisher: !!o.fisher, rows, weights: weightsCount, bytes: sol.bytes, bits: bitsPerWeight(sol.bytes, weightsCount), error: sol.error, candidates: Math.max(0, ...groups.map((g) => g.length)), skipped: [], method: 'reallm' };
}

/**
 * Build every layer as planned: its learned codebook and LoRA start (s·B·A, s = alpha / rank; none at rank 0).
 * Sets each row's builtError (the same weighted error as the plan's estimate).
 */
export async function applyVqPlan(
  file: LoadedModel,
  plan: BudgetPlan,
  o: { alpha: number; imatrix: Imatrix | null; fisher?: ReadonlyMap<string, RowColWeights> | null; assign?: Assigner; rounds?: number; iters?: number },
  onLayer?: (done: number, total: number) => void,
): Promise<{ vq: Map<string, VqTensor>; factors: LoraStart }> {
  const vq = new Map<string, VqTensor>();
  const factors: LoraStart = new Map();
  for (const r of plan.rows) {
    const c = parseVqChoice(r.type);
    if (!c) throw new RangeError(`${r.name}: the plan's type ${r.type} is not a learned-codebook shape`);
    const { w, weights, rowWeights } = await layerInput(file, r.name, o.imatrix, o.fisher, 'ReALLM under a budget');
    let q: VqTensor;
    let low: ((i: number) => number) | null = null;
    if (r.rank > 0) {
      // reallmInit weighs columns only (k-means and SVD); the Fisher estimate's row weights weigh the errors.
      const init = await reallmInit(w, r.rows, r.cols, { rank: r.rank, alpha: o.alpha, rounds: o.rounds ?? 3, dim: c.dim, bits: c.bits, iters: o.iters, importance: weights ?? undefined, seed: r.seed, assign: o.assign }, r.name);
      q = init.q;
      factors.set(`${r.layer}.${r.role}`, { a: init.a, b: init.b });
      const s = o.alpha / r.rank;
      const { a, b } = init;
      low = (i) => {
        const row = Math.floor(i / r.cols);
        const col = i % r.cols;
        let x = 0;
        for (let j = 0; j < r.rank; j++) x += b[row * r.rank + j] * a[j * r.cols + col];
        return s * x;
      };
    } else q = (await encodeLearned(w, r.rows, r.cols, { dim: c.dim, bits: c.bits, importance: weights ?? undefined, iters: o.iters, seed: r.seed * 7919, assign: o.assign })).q;
    const dq = dequantizeVq(q);
    let e = 0;
    for (let i = 0; i < w.length; i++) e += (w[i] - dq[i] - (low ? low(i) : 0)) ** 2 * (weights ? weights[i % r.cols] : 1) * (rowWeights ? rowWeights[Math.floor(i / r.cols)] : 1);
    r.builtError = e;
    vq.set(r.name, q);
    onLayer?.(vq.size, plan.rows.length);
  }
  return { vq, factors };
}
