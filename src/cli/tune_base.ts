// How `sub4 tune` prepares a quantized base from data, beside the run itself
// (tune.ts): LQ-LoRA's importance weighting (--weighting imatrix|fisher) and the
// bit-budget plan (--budget; with --method reallm over learned-codebook shapes,
// src/train/budget/vq_plan.ts), with the importance-matrix file they read.
import { basename } from 'node:path';
import { UsageError } from './args.ts';
import { readTextFile } from './eval.ts';
import { openWithTokenizer } from './model_gpu.ts';
import type { TuneSettings } from './tune_settings.ts';
import type { GpuContext } from '../gpu/device.ts';
import { CliProgress } from './progress.ts';
import { paramSpec } from '../arch/params.ts';
import { applyBudgetPlan, formatPlan, planBudget } from '../train/budget/plan.ts';
import { DEFAULT_RANKS, defaultChoices, parseChoice, ranksFor, type QuantChoice } from '../train/budget/candidates.ts';
import { readImatrix } from '../io/imatrix/index.ts';
import { fileSource } from '../io/source.node.ts';
import { createNodeQuantizePool } from '../quant/quantize/pool.node.ts';
import type { Quantizer } from '../quant/quantize/pool.ts';
import type { LoadedModel } from '../io/loaded_model.ts';
import type { QTensor } from '../quant/qtensor.ts';
import type { GgufLayer } from '../train/budget/overlay.ts';
import { calibrationWindows, fisherLqloraWeights, imatrixLqloraWeights } from '../train/weighting.ts';
import type { RowColWeights } from '../train/lqlora.ts';
import { applyVqPlan, planVqBudget } from '../train/budget/vq_plan.ts';
import { bitsPerWeight } from '../train/budget/solve.ts';
import type { BudgetPlan } from '../train/budget/plan.ts';
import { cpuAssign, type Assigner } from '../quant/vq/kmeans.ts';

/** Multiply-adds of one assignment from which ReALLM's budget path uses the GPU's assigner. */
const GPU_ASSIGN_MIN = 2 ** 26;

/** --weighting imatrix|fisher: the rank-1 importance of every layer linear (src/train/weighting.ts). */
export async function lqloraWeighting(s: TuneSettings, ctx: GpuContext, m: Awaited<ReturnType<typeof openWithTokenizer>>, log: (line: string) => void, progress: CliProgress): Promise<Map<string, RowColWeights>> {
  if (s.weighting === 'imatrix') {
    const im = await readImatrixFile(s.imatrix!);
    const { weights, missing } = imatrixLqloraWeights(m.file, im);
    log(`${s.method === 'reallm' ? 'ReALLM' : 'LQ-LoRA'} weighted by ${s.imatrix}: ${weights.size} layers${missing.length ? `; no entry (unweighted): ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ', …' : ''}` : ''}`);
    return weights;
  }
  const ids = m.tokenizer.encode(await readTextFile(s.calib!), { addBos: true });
  const windows = calibrationWindows(ids, s.seqLen, s.calibWindows ?? 32);
  if (windows.length === 0) throw new UsageError(`--calib ${s.calib}: ${ids.length} tokens, fewer than one window of --seq ${s.seqLen} + 1`);
  const weights = await fisherLqloraWeights(ctx, m.file, windows, s.batch, (d, t) => progress.update('fisher', d * s.seqLen, t * s.seqLen, 'tokens'));
  progress.end();
  log(`${s.method === 'reallm' ? 'ReALLM' : 'LQ-LoRA'} weighted by the empirical Fisher over ${windows.length} windows of ${s.seqLen} tokens of ${basename(s.calib!)}`);
  return weights;
}

/** --budget: the plan over the file's float linear layers (printed before training), then the planned split of each. */
export async function prepareBudget(s: TuneSettings, budget: number, file: LoadedModel, json: boolean, log: (line: string) => void, progress: CliProgress, fisher?: ReadonlyMap<string, RowColWeights>) {
  const choices = budgetChoices(s.types ?? null, s.format === 'gguf' || s.format === 'gguf-lora' ? `--format ${s.format}` : null);
  // Without --rank the plan picks each matrix's rank among DEFAULT_RANKS (capped by its shape; the trainer
  // builds each layer's factors at its planned rank); with --rank R it chooses the types at that one rank.
  const ranks = s.rankPerMatrix ? DEFAULT_RANKS : [s.rank];
  checkFixedRank(s, file);
  const imatrix = s.imatrix ? await readImatrixFile(s.imatrix) : null;
  const by = fisher ? ', weighted by the Fisher estimate' : imatrix ? `, weighted by ${s.imatrix}` : '';
  log(`budget ${budget} bits per weight: measuring ${choices.length} types at LoRA rank${ranks.length > 1 ? `s ${ranks.join(', ')}` : ` ${s.rank}`} on every linear layer${by}`);
  // The GGUF candidates' quantizers across worker threads (rows split, the same bytes as on this thread).
  const pool = createNodeQuantizePool();
  const quantize: Quantizer = (t, x, rows, cols, w) => pool.quantize(t, x, rows, cols, w);
  try {
    const plan = await planBudget(file, { budget, choices, ranks, alpha: s.alpha, seed: s.seed, rounds: 2, imatrix, fisher, quantize }, (d, t) => progress.update('plan', d, t, 'layers'));
    progress.end();
    for (const k of plan.skipped) log(`not a candidate: ${k}`);
    if (json) console.log(JSON.stringify({ type: 'plan', ...plan }));
    else formatPlan(plan).forEach((line) => console.log(line));
    checkSomeLora(plan, budget);
    const applied = await applyBudgetPlan(file, plan, { alpha: s.alpha, imatrix, fisher, quantize }, (d, t) => progress.update('quantize', d, t, 'layers'));
    progress.end();
    // Each matrix's planned rank (0: no LoRA there), as TrainConfig.lora.ranks takes them.
    const loraRanks = Object.fromEntries(plan.rows.map((r) => [`${r.layer}.${r.role}`, r.rank]));
    return { plan, ...applied, loraRanks };
  } finally {
    pool.destroy();
  }
}

/** --rank R with --budget: R must fit every linear matrix (at most half its smaller side). */
function checkFixedRank(s: TuneSettings, file: LoadedModel): void {
  if (s.rankPerMatrix) return;
  for (const p of paramSpec(file.config))
    if (p.kind === 'linear' && p.layer !== null && ranksFor([s.rank], p.shape[0], p.shape[1])[0] !== s.rank)
      throw new UsageError(`--rank ${s.rank} is more than half of ${p.name}'s smaller side [${p.shape.join(', ')}]`);
}

/** A plan that puts LoRA nowhere leaves nothing to train (and no adapter to export): said before building. */
function checkSomeLora(plan: BudgetPlan, budget: number): void {
  if (plan.rows.every((r) => r.rank === 0))
    throw new UsageError(`the plan puts no LoRA on any matrix (rank 0 everywhere at --budget ${budget}): nothing to train; raise --budget, or pass --rank R to give every matrix rank R`);
}

/**
 * --method reallm --budget: each matrix's learned-codebook shape (d, k) and LoRA rank from the knapsack over
 * measured candidates (printed before building), then every layer built as planned. --format aqlm holds the
 * plan to one shared shape (AQLM's quantization_config is global).
 */
export async function prepareReallmBudget(s: TuneSettings, budget: number, file: LoadedModel, json: boolean, log: (line: string) => void, progress: CliProgress, gpu: Assigner, fisher?: ReadonlyMap<string, RowColWeights>) {
  // The GPU's nearest-entry search for the big problems only: a small one (a tiny model's matrices, a sample's
  // k-means) costs less on the CPU than the GPU's round trip (measured on stories260K: ~10 s of planning on
  // the CPU, many times that through SwiftShader). Both take the first minimum on ties.
  const assign: Assigner = (p) => (p.n * p.size * p.d >= GPU_ASSIGN_MIN ? gpu(p) : cpuAssign(p));
  checkFixedRank(s, file);
  const ranks = s.rankPerMatrix ? DEFAULT_RANKS : [s.rank];
  const imatrix = s.imatrix ? await readImatrixFile(s.imatrix) : null;
  const shared = s.format === 'aqlm';
  const by = fisher ? ', weighted by the Fisher estimate' : imatrix ? `, weighted by ${s.imatrix}` : '';
  log(`budget ${budget} bits per weight: measuring learned-codebook shapes (d in 2, 4, 8; k = 1..4 bits per weight times d, k <= 16, 2^k < vectors)${shared ? ', one shape for every matrix (--format aqlm)' : ''} at LoRA rank${ranks.length > 1 ? `s ${ranks.join(', ')}` : ` ${s.rank}`} on every linear layer${by}; errors estimated (tables learned on a row sample, one round)`);
  const plan = await planVqBudget(file, { budget, ranks, seed: s.seed, imatrix, fisher, shared, assign }, (d, t) => progress.update('plan', d, t, 'layers'));
  progress.end();
  if (json) console.log(JSON.stringify({ type: 'plan', ...plan }));
  else formatPlan(plan).forEach((line) => console.log(line));
  checkSomeLora(plan, budget);
  const built = await applyVqPlan(file, plan, { alpha: s.alpha, imatrix, fisher, assign }, (d, t) => progress.update('quantize', d, t, 'layers'));
  progress.end();
  const sum = (f: (r: BudgetPlan['rows'][number]) => number) => plan.rows.reduce((t, r) => t + f(r), 0);
  const norm = sum((r) => r.norm);
  log(`ReALLM under the budget: ${plan.rows.length} layers built, ${bitsPerWeight(plan.bytes, plan.weights).toFixed(4)} bits per weight (LoRA at 16 bits per value); error ${sum((r) => r.builtError ?? 0).toExponential(4)} as built (relative ${(sum((r) => r.builtError ?? 0) / (norm || 1)).toExponential(3)}), ${plan.error.toExponential(4)} as estimated`);
  const loraRanks = Object.fromEntries(plan.rows.map((r) => [`${r.layer}.${r.role}`, r.rank]));
  return { plan, quantized: new Map<string, QTensor>(), ggufLayers: new Map<string, GgufLayer>(), vq: built.vq, factors: built.factors, loraRanks };
}

/**
 * The plan's candidate types from --types (null: the default set); `ggufOnly`
 * names what holds only GGUF types (--format gguf, convert), which keeps the sub4 grids out.
 */
export function budgetChoices(types: readonly string[] | null, ggufOnly: string | null): QuantChoice[] {
  if (!types) return defaultChoices(ggufOnly !== null);
  return types.map((t) => {
    const c = parseChoice(t);
    if (!c) throw new UsageError(`--types: ${JSON.stringify(t)} is not a GGUF type sub4 decodes or a sub4 grid (sub4-<2|3|4>bit-g<N>)`);
    if (ggufOnly && c.kind === 'grid') throw new UsageError(`--types: ${t} is a sub4 grid, which ${ggufOnly} cannot hold`);
    return c;
  });
}

/** An importance matrix file (GGUF or legacy .dat), read whole. */
export async function readImatrixFile(path: string) {
  const src = await fileSource(path);
  try {
    return await readImatrix(src);
  } finally {
    await src.close?.();
  }
}
