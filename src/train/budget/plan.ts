// LQ-LoRA under a bit budget over a whole model (`sub4 tune --method lqlora
// --budget B`): measure every linear layer's candidates (candidates.ts), solve
// the exact knapsack (solve.ts), then redo the chosen split of each layer to
// get its base and LoRA start. The weights counted are the linear layers'
// (Σ O·I over blk.* q/k/v/o/gate/up/down); embeddings, norms and the LM head
// keep the file's types and are outside the budget. The final split of a layer
// repeats its measurement exactly (same type, rank, rounds, seed and round-1
// sketch rank), so the error the plan prints is the error of the base trained on.
import type { LoadedModel } from '../../io/loaded_model.ts';
import { importanceWeights, type Imatrix } from '../../io/imatrix/index.ts';
import { LINEAR_ROLES, paramSpec, type LinearRole } from '../../arch/params.ts';
import type { QTensor } from '../../quant/qtensor.ts';
import { originalWeights } from '../quantize_model.ts';
import type { LoraStart } from '../setup.ts';
import { choiceName, lqSplit, measureCandidates, parseChoice, ranksFor, type Candidate, type QuantChoice } from './candidates.ts';
import type { GgufLayer } from './overlay.ts';
import type { RowColWeights } from '../lqlora.ts';
import type { Quantizer } from '../../quant/quantize/pool.ts';
import { bitsPerWeight, solveBudget } from './solve.ts';

export interface BudgetOptions {
  /** Bits per weight over the linear layers, LoRA factors included. */
  budget: number;
  choices: readonly QuantChoice[];
  ranks: readonly number[];
  /** LoRA alpha of the run (the factors' scale is alpha / rank). */
  alpha: number;
  seed: number;
  rounds: number;
  imatrix: Imatrix | null;
  /**
   * The diagonal Fisher's rank-1 form per engine weight name (src/train/weighting.ts): when given it
   * weighs the errors instead of the imatrix (rows and columns), and its column sums weigh the quantizers.
   */
  fisher?: ReadonlyMap<string, RowColWeights> | null;
  /** The GGUF types' quantizer: ggmlQuantize (default) or a worker pool's (src/quant/quantize/pool.ts), same bytes. */
  quantize?: Quantizer;
}

export interface PlanRow {
  /** Engine name. */
  name: string;
  layer: number;
  role: LinearRole;
  rows: number;
  cols: number;
  type: string;
  rank: number;
  quantBytes: number;
  loraBytes: number;
  bytes: number;
  error: number;
  /** ‖W·diag(√w)‖²: the error relative to it is the row's "rel" column. */
  norm: number;
  /** The rank of the shared round-1 SVD when it was measured (to redo the split exactly). */
  sketchRank: number;
  seed: number;
  /** ReALLM plans: the error of the split as built (the plan's is an estimate, vq_candidates.ts). */
  builtError?: number;
}

/** The plan as the trained state and the model card keep it. */
export interface BudgetPlan {
  budget: number;
  rounds: number;
  imatrix: boolean;
  /** The errors are weighted by the diagonal Fisher estimate (absent in plans from before it). */
  fisher?: boolean;
  rows: PlanRow[];
  weights: number;
  bytes: number;
  bits: number;
  error: number;
  /** Candidates measured per matrix (the knapsack's choices). */
  candidates: number;
  skipped: string[];
  /** What the rows' types are: absent/'lqlora' GGUF types and sub4 grids, 'reallm' learned-codebook shapes (vq_plan.ts). */
  method?: 'lqlora' | 'reallm';
}

export const layerSeed = (seed: number, layer: number, role: LinearRole) => seed + layer * 7 + LINEAR_ROLES.indexOf(role);

export function linears(file: LoadedModel) {
  return paramSpec(file.config).filter((p) => p.kind === 'linear' && p.layer !== null);
}

/** A layer's float weights and its importance: the Fisher estimate's row and column sums when given, else the imatrix's columns. */
export async function layerInput(file: LoadedModel, name: string, im: Imatrix | null, fisher: ReadonlyMap<string, RowColWeights> | null | undefined, what = 'LQ-LoRA under a budget') {
  const t = file.tensors.get(name)!;
  const w = await originalWeights(file, t, what);
  if (fisher) {
    const f = fisher.get(name);
    if (!f?.row || !f.col) throw new RangeError(`${name}: the Fisher estimate has no row and column sums for it`);
    // F ≈ r·cᵀ / ΣF (rowColForm's sums), written as (r·mean(c)/ΣF)·(c/mean(c))ᵀ: the same product, so errors
    // compare across matrices as the Fisher weighs them, while the quantizers get column weights of mean 1
    // (llama.cpp's weighted searches are scale-free, but floor tiny weights).
    let total = 0;
    for (let i = 0; i < f.row.length; i++) total += f.row[i];
    const mean = total / f.col.length;
    const col = new Float32Array(f.col.length);
    for (let j = 0; j < col.length; j++) col[j] = mean > 0 ? f.col[j] / mean : 1;
    const row = new Float64Array(f.row.length);
    for (let i = 0; i < row.length; i++) row[i] = total > 0 ? (f.row[i] * mean) / total : 1;
    return { t, w, weights: col, rowWeights: row };
  }
  const weights = im && t.ggufName ? (importanceWeights(im, t.ggufName) ?? null) : null;
  return { t, w, weights: weights && weights.length === t.shape[1] ? weights : null, rowWeights: null };
}

/** Measure and solve: the plan (BudgetError when the budget is below the cheapest plan). */
export async function planBudget(file: LoadedModel, o: BudgetOptions, onLayer?: (done: number, total: number) => void): Promise<BudgetPlan> {
  const ps = linears(file);
  const groups: Candidate[][] = [];
  const meta: { norm: number; sketchRank: number; seed: number }[] = [];
  const skipped = new Set<string>();
  let weightsCount = 0;
  for (const p of ps) {
    const { t, w, weights, rowWeights } = await layerInput(file, p.name, o.imatrix, o.fisher);
    const [rows, cols] = t.shape;
    weightsCount += rows * cols;
    const seed = layerSeed(o.seed, p.layer!, p.role as LinearRole);
    const r = await measureCandidates(w, rows, cols, { choices: o.choices, ranks: o.ranks, weights, rowWeights, rounds: o.rounds, seed, quantize: o.quantize }, p.name);
    r.skipped.forEach((s) => skipped.add(`${s.type}: ${s.why}`));
    groups.push(r.candidates);
    let norm = 0;
    for (let i = 0; i < w.length; i++) norm += w[i] * w[i] * (weights ? weights[i % cols] : 1) * (rowWeights ? rowWeights[Math.floor(i / cols)] : 1);
    meta.push({ norm, sketchRank: Math.max(0, ...ranksFor(o.ranks, rows, cols)), seed });
    onLayer?.(groups.length, ps.length);
  }
  const sol = solveBudget(groups, Math.floor((o.budget * weightsCount) / 8), weightsCount, file.name);
  const rows: PlanRow[] = ps.map((p, k) => {
    const c = groups[k][sol.choice[k]];
    const t = file.tensors.get(p.name)!;
    return { name: p.name, layer: p.layer!, role: p.role as LinearRole, rows: t.shape[0], cols: t.shape[1], type: c.type, rank: c.rank, quantBytes: c.quantBytes, loraBytes: c.loraBytes, bytes: c.bytes, error: c.error, ...meta[k] };
  });
  return { budget: o.budget, rounds: o.rounds, imatrix: !o.fisher && o.imatrix !== null, fisher: !!o.fisher, rows, weights: weightsCount, bytes: sol.bytes, bits: bitsPerWeight(sol.bytes, weightsCount), error: sol.error, candidates: Math.max(0, ...groups.map((g) => g.length)), skipped: [...skipped] };
}

/** The plan's table, one line per matrix then the totals; `lora: false` (post-training plans, rank 0 only) drops the rank column. */
export function formatPlan(plan: BudgetPlan, o: { lora?: boolean } = {}): string[] {
  const lora = o.lora ?? true;
  const rank = (s: string) => (lora ? ` ${s.padStart(4)}` : '');
  const head = `${'matrix'.padEnd(40)} ${'type'.padEnd(14)}${rank('rank')} ${'bytes'.padStart(10)} ${'bpw'.padStart(6)} ${'error'.padStart(11)} ${'rel'.padStart(8)}`;
  const lines = plan.rows.map(
    (r) =>
      `${r.name.padEnd(40)} ${r.type.padEnd(14)}${rank(String(r.rank))} ${String(r.bytes).padStart(10)} ${bitsPerWeight(r.bytes, r.rows * r.cols).toFixed(3).padStart(6)} ${r.error.toExponential(3).padStart(11)} ${(r.norm > 0 ? r.error / r.norm : 0).toExponential(2).padStart(8)}`,
  );
  const weighted = plan.fisher ? ' (Fisher-weighted)' : plan.imatrix ? ' (importance-weighted)' : '';
  return [
    head,
    ...lines,
    `total: ${plan.bytes} bytes for ${plan.weights} linear weights = ${plan.bits.toFixed(4)} bits per weight (budget ${plan.budget}${lora ? '; LoRA counted at 16 bits per value' : ''}), error ${plan.error.toExponential(4)}${weighted}`,
  ];
}

/** The chosen split of every layer: sub4 grids as QTensors, GGUF types as blocks, and the LoRA start. */
export async function applyBudgetPlan(
  file: LoadedModel,
  plan: BudgetPlan,
  o: { alpha: number; imatrix: Imatrix | null; fisher?: ReadonlyMap<string, RowColWeights> | null; quantize?: Quantizer },
  onLayer?: (done: number, total: number) => void,
): Promise<{ quantized: Map<string, QTensor>; ggufLayers: Map<string, GgufLayer>; factors: LoraStart }> {
  const quantized = new Map<string, QTensor>();
  const ggufLayers = new Map<string, GgufLayer>();
  const factors: LoraStart = new Map();
  let done = 0;
  for (const r of plan.rows) {
    const choice = parseChoice(r.type);
    if (!choice) throw new RangeError(`${r.name}: the plan's type ${r.type} is not one sub4 quantizes to`);
    const { w, weights, rowWeights } = await layerInput(file, r.name, o.imatrix, o.fisher);
    const { kept } = await lqSplit(w, r.rows, r.cols, choice, [r.rank], { weights, rowWeights, rounds: plan.rounds, sketchRank: r.sketchRank, seed: r.seed, quantize: o.quantize }, { rank: r.rank, scale: r.rank > 0 ? o.alpha / r.rank : 1 }, r.name);
    const k = kept!;
    if (k.error !== r.error) throw new RangeError(`${r.name}: redoing the ${choiceName(choice)} rank-${r.rank} split gave error ${k.error}, the plan measured ${r.error} (not the same base?)`);
    if (k.quant.q) quantized.set(r.name, k.quant.q);
    else ggufLayers.set(r.name, { type: (choice as { type: GgufLayer['type'] }).type, rows: r.rows, cols: r.cols, blocks: k.quant.blocks! });
    if (k.a && k.b) factors.set(`${r.layer}.${r.role}`, { a: k.a, b: k.b });
    onLayer?.(++done, plan.rows.length);
  }
  return { quantized, ggufLayers, factors };
}
