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
}

/** The plan as the trained state and the model card keep it. */
export interface BudgetPlan {
  budget: number;
  rounds: number;
  imatrix: boolean;
  rows: PlanRow[];
  weights: number;
  bytes: number;
  bits: number;
  error: number;
  /** Candidates measured per matrix (the knapsack's choices). */
  candidates: number;
  skipped: string[];
}

const layerSeed = (seed: number, layer: number, role: LinearRole) => seed + layer * 7 + LINEAR_ROLES.indexOf(role);

function linears(file: LoadedModel) {
  return paramSpec(file.config).filter((p) => p.kind === 'linear' && p.layer !== null);
}

async function layerInput(file: LoadedModel, name: string, im: Imatrix | null) {
  const t = file.tensors.get(name)!;
  const w = await originalWeights(file, t, 'LQ-LoRA under a budget');
  const weights = im && t.ggufName ? (importanceWeights(im, t.ggufName) ?? null) : null;
  return { t, w, weights: weights && weights.length === t.shape[1] ? weights : null };
}

/** Measure and solve: the plan (BudgetError when the budget is below the cheapest plan). */
export async function planBudget(file: LoadedModel, o: BudgetOptions, onLayer?: (done: number, total: number) => void): Promise<BudgetPlan> {
  const ps = linears(file);
  const groups: Candidate[][] = [];
  const meta: { norm: number; sketchRank: number; seed: number }[] = [];
  const skipped = new Set<string>();
  let weightsCount = 0;
  for (const p of ps) {
    const { t, w, weights } = await layerInput(file, p.name, o.imatrix);
    const [rows, cols] = t.shape;
    weightsCount += rows * cols;
    const seed = layerSeed(o.seed, p.layer!, p.role as LinearRole);
    const r = measureCandidates(w, rows, cols, { choices: o.choices, ranks: o.ranks, weights, rounds: o.rounds, seed }, p.name);
    r.skipped.forEach((s) => skipped.add(`${s.type}: ${s.why}`));
    groups.push(r.candidates);
    let norm = 0;
    for (let i = 0; i < w.length; i++) norm += w[i] * w[i] * (weights ? weights[i % cols] : 1);
    meta.push({ norm, sketchRank: Math.max(0, ...ranksFor(o.ranks, rows, cols)), seed });
    onLayer?.(groups.length, ps.length);
  }
  const sol = solveBudget(groups, Math.floor((o.budget * weightsCount) / 8), weightsCount, file.name);
  const rows: PlanRow[] = ps.map((p, k) => {
    const c = groups[k][sol.choice[k]];
    const t = file.tensors.get(p.name)!;
    return { name: p.name, layer: p.layer!, role: p.role as LinearRole, rows: t.shape[0], cols: t.shape[1], type: c.type, rank: c.rank, quantBytes: c.quantBytes, loraBytes: c.loraBytes, bytes: c.bytes, error: c.error, ...meta[k] };
  });
  return { budget: o.budget, rounds: o.rounds, imatrix: o.imatrix !== null, rows, weights: weightsCount, bytes: sol.bytes, bits: bitsPerWeight(sol.bytes, weightsCount), error: sol.error, candidates: Math.max(0, ...groups.map((g) => g.length)), skipped: [...skipped] };
}

/** The plan's table, one line per matrix then the totals. */
export function formatPlan(plan: BudgetPlan): string[] {
  const head = `${'matrix'.padEnd(40)} ${'type'.padEnd(14)} ${'rank'.padStart(4)} ${'bytes'.padStart(10)} ${'bpw'.padStart(6)} ${'error'.padStart(11)} ${'rel'.padStart(8)}`;
  const lines = plan.rows.map(
    (r) =>
      `${r.name.padEnd(40)} ${r.type.padEnd(14)} ${String(r.rank).padStart(4)} ${String(r.bytes).padStart(10)} ${bitsPerWeight(r.bytes, r.rows * r.cols).toFixed(3).padStart(6)} ${r.error.toExponential(3).padStart(11)} ${(r.norm > 0 ? r.error / r.norm : 0).toExponential(2).padStart(8)}`,
  );
  return [
    head,
    ...lines,
    `total: ${plan.bytes} bytes for ${plan.weights} linear weights = ${plan.bits.toFixed(4)} bits per weight (budget ${plan.budget}; LoRA counted at 16 bits per value), error ${plan.error.toExponential(4)}${plan.imatrix ? ' (importance-weighted)' : ''}`,
  ];
}

/** The chosen split of every layer: sub4 grids as QTensors, GGUF types as blocks, and the LoRA start. */
export async function applyBudgetPlan(
  file: LoadedModel,
  plan: BudgetPlan,
  o: { alpha: number; imatrix: Imatrix | null },
  onLayer?: (done: number, total: number) => void,
): Promise<{ quantized: Map<string, QTensor>; ggufLayers: Map<string, GgufLayer>; factors: LoraStart }> {
  const quantized = new Map<string, QTensor>();
  const ggufLayers = new Map<string, GgufLayer>();
  const factors: LoraStart = new Map();
  let done = 0;
  for (const r of plan.rows) {
    const choice = parseChoice(r.type);
    if (!choice) throw new RangeError(`${r.name}: the plan's type ${r.type} is not one sub4 quantizes to`);
    const { w, weights } = await layerInput(file, r.name, o.imatrix);
    const { kept } = lqSplit(w, r.rows, r.cols, choice, [r.rank], { weights, rounds: plan.rounds, sketchRank: r.sketchRank, seed: r.seed }, { rank: r.rank, scale: r.rank > 0 ? o.alpha / r.rank : 1 }, r.name);
    const k = kept!;
    if (k.error !== r.error) throw new RangeError(`${r.name}: redoing the ${choiceName(choice)} rank-${r.rank} split gave error ${k.error}, the plan measured ${r.error} (not the same base?)`);
    if (k.quant.q) quantized.set(r.name, k.quant.q);
    else ggufLayers.set(r.name, { type: (choice as { type: GgufLayer['type'] }).type, rows: r.rows, cols: r.cols, blocks: k.quant.blocks! });
    if (k.a && k.b) factors.set(`${r.layer}.${r.role}`, { a: k.a, b: k.b });
    onLayer?.(++done, plan.rows.length);
  }
  return { quantized, ggufLayers, factors };
}
