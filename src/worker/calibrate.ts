// The studio's importance matrix and bit budget (what `sub4 imatrix` and
// `sub4 tune --method lqlora --budget B --imatrix F` do on the command line):
//   calibrate          llama.cpp's importance matrix of the current model over the
//                      dropped data's training windows (src/model/imatrix.ts, on the
//                      GPU), kept here for the model's runs: it weights the budget
//                      plan and LQ-LoRA's split (quantizeForTuning's weights)
//   calibration-save   the kept matrix as a .imatrix.gguf (llama-quantize reads it)
//   budget-plan        LQ-LoRA's plan under a bit budget (src/train/budget/plan.ts):
//                      every matrix's candidates measured, the knapsack solved; the
//                      last plan is kept so that Start builds the base it showed; the
//                      GGUF candidates' quantizers run on a pool of nested Web Workers
//                      (quantize_pool.ts), the same bytes as on this thread
// Both are kept per model (a WeakMap on the loaded file): a new model drops them.
import { collectImatrix } from '../model/imatrix.ts';
import type { Imatrix } from '../io/imatrix/types.ts';
import { writeImatrixGguf } from '../io/imatrix/writer.ts';
import type { LoadedModel } from '../io/loaded_model.ts';
import { buildDataset } from '../train/data/index.ts';
import { defaultChoices, ranksFor } from '../train/budget/candidates.ts';
import { applyBudgetPlan, planBudget, type BudgetPlan } from '../train/budget/plan.ts';
import { imatrixLqloraWeights } from '../train/weighting.ts';
import type { RowColWeights } from '../train/lqlora.ts';
import { paramSpec } from '../arch/params.ts';
import type { Quantizer } from '../quant/quantize/pool.ts';
import { ggmlQuantize } from '../quant/quantize/ggml_quantize.ts';
import { withQuantizePool } from './quantize_pool.ts';
import { CancelledError, intParam, NoModelError, RequestParamError } from './errors.ts';
import type { HandlerEnv, HandlerIO } from './handler_env.ts';
import { placedBy } from './model_slot.ts';
import { assertPlainData } from './plain_data.ts';
import type { BudgetPlanReport, CalibrationFile, CalibrationReport, EngineRequest, TrainSettings } from './protocol.ts';
import { checkSettings, dataName, readDataText, type CheckedSettings } from './train_data.ts';

/** Held-out share of the data, as train-data and train hold out: the matrix sees the training windows only. */
const EVAL_FRACTION = 0.1;
/** Rounds of LQ-LoRA's split per candidate, as `sub4 tune --budget` measures. */
const PLAN_ROUNDS = 2;

interface Kept {
  calibration: { imatrix: Imatrix; report: CalibrationReport } | null;
  plan: { key: string; plan: BudgetPlan } | null;
  ids: number;
}
const kept = new WeakMap<LoadedModel, Kept>();

function keptFor(file: LoadedModel): Kept {
  let k = kept.get(file);
  if (!k) kept.set(file, (k = { calibration: null, plan: null, ids: 0 }));
  return k;
}

/** The importance matrix kept for this model, else null. */
export function calibrationOf(file: LoadedModel): Imatrix | null {
  return kept.get(file)?.calibration?.imatrix ?? null;
}

/** LQ-LoRA's per-layer column weights from the kept matrix (quantizeForTuning's `weights`), else undefined. */
export function lqloraWeightsOf(file: LoadedModel, log: (line: string) => void): Map<string, RowColWeights> | undefined {
  const im = calibrationOf(file);
  if (!im) return undefined;
  const { weights, missing } = imatrixLqloraWeights(file, im);
  log(`LQ-LoRA weighted by the importance matrix of ${kept.get(file)!.calibration!.report.file}: ${weights.size} layers${missing.length ? `; no entry (unweighted): ${missing.length}` : ''}`);
  return weights;
}

export async function calibrate(req: EngineRequest<'calibrate'>, io: HandlerIO<'calibrate'>, env: HandlerEnv): Promise<CalibrationReport> {
  const name = dataName(req);
  const seqLen = intParam(req.seqLen, 'seq len', 2, 1 << 16);
  const seed = intParam(req.seed, 'seed', 0, 0xffffffff);
  const most = intParam(req.windows, 'windows', 1, 1 << 16);
  const ctx = await env.getContext(io.progress);
  return env.models.run(ctx, io, async (job) => {
    const { file, tokenizer, llama, signal } = job;
    const max = file.config.maxPositions;
    if (seqLen > max) throw new RequestParamError('seq len', `${file.name} reads at most ${max} positions, so seq len must be at most ${max}`);
    const text = await readDataText(req.file, name, io.progress);
    io.progress('tokenizing', 0, 1);
    const ds = buildDataset(text, name, tokenizer, { seqLen, seed, evalFraction: EVAL_FRACTION, plainChatFallback: req.plainChat === true, onProgress: (d, t) => io.progress('tokenizing', d, t) });
    const n = Math.min(most, ds.train.count);
    if (n === 0) throw new RequestParamError('seq len', `${name} gives no training window of ${seqLen} tokens to calibrate on; use a shorter seq len or more data`);
    const windows: number[][] = [];
    for (let w = 0; w < n; w++) windows.push(Array.from(ds.train.inputs.subarray(w * seqLen, (w + 1) * seqLen)));
    io.progress('calibrating', 0, n);
    const imatrix = await collectImatrix(llama, windows, {
      onProgress: (d, t) => io.progress('calibrating', d, t),
      checkCancel: () => {
        if (signal.aborted) throw new CancelledError(`Calibration stopped: ${String(signal.reason)}.`);
      },
    });
    imatrix.datasets = [name];
    const k = keptFor(file);
    const report: CalibrationReport = { file: name, entries: imatrix.entries.size, tokens: n * seqLen, windows: n, windowLength: seqLen, id: ++k.ids };
    k.calibration = { imatrix, report };
    k.plan = null; // a plan weighted by another matrix (or none) is not the one Start should build
    return assertPlainData({ ...report, ...placedBy(job) }, 'calibrate');
  });
}

export async function calibrationSave(_req: EngineRequest<'calibration-save'>, _io: HandlerIO<'calibration-save'>, env: HandlerEnv): Promise<CalibrationFile> {
  const file = env.models.current;
  const c = file && kept.get(file)?.calibration;
  if (!file || !c) throw new NoModelError('No importance matrix to save: press "Calibrate on this data" first.');
  const parts: Uint8Array[] = [];
  const stem = file.name.replace(/\.gguf$/i, '').replace(/[\\/]/g, '_') || 'model';
  const name = `${stem}.imatrix.gguf`;
  const bytes = await writeImatrixGguf({ write: (b) => void parts.push(b.slice()) }, c.imatrix, name);
  return { blob: new Blob(parts as BlobPart[], { type: 'application/octet-stream' }), name, bytes };
}

/** What a plan depends on besides the model: the same key gives the same plan (planBudget is deterministic). */
function planKey(s: CheckedSettings & { budget: number }, calibration: number | null): string {
  return JSON.stringify([s.budget, s.rank, s.alpha, s.seed, calibration]);
}

function checkBudget(s: CheckedSettings, file: LoadedModel): CheckedSettings & { budget: number } {
  if (s.method !== 'lqlora') throw new RequestParamError('budget', 'plans LQ-LoRA\'s base: choose the LQ-LoRA method');
  if (s.budget === null || s.budget === undefined) throw new RequestParamError('budget', 'no budget was given');
  if (typeof s.budget !== 'number' || !Number.isFinite(s.budget) || s.budget <= 0 || s.budget > 64) throw new RequestParamError('budget', `must be bits per weight between 0 and 64, got ${String(s.budget)}`);
  // The trainer gives every layer the one LoRA rank: the plan chooses the types at that rank.
  for (const p of paramSpec(file.config))
    if (p.kind === 'linear' && p.layer !== null && ranksFor([s.rank], p.shape[0], p.shape[1])[0] !== s.rank)
      throw new RequestParamError('rank', `${s.rank} is more than half of ${p.name}'s smaller side [${p.shape.join(', ')}]`);
  return s as CheckedSettings & { budget: number };
}

/**
 * The plan for these settings on this model: the kept one when the key matches
 * (what budget-plan showed is what Start builds), else measured now (the GGUF
 * candidates by `quantize`: a pool's, withQuantizePool) and kept.
 */
export async function budgetPlanFor(file: LoadedModel, settings: CheckedSettings, progress: (phase: string, done: number, total: number) => void, signal: AbortSignal, quantize: Quantizer = ggmlQuantize): Promise<BudgetPlan> {
  const s = checkBudget(settings, file);
  const k = keptFor(file);
  const key = planKey(s, k.calibration?.report.id ?? null);
  if (k.plan?.key === key) return k.plan.plan;
  const imatrix = k.calibration?.imatrix ?? null;
  progress('planning', 0, 1);
  const stopped = () => new CancelledError(`Planning stopped: ${String(signal.reason)}.`);
  const plan = await planBudget(file, { budget: s.budget, choices: defaultChoices(false), ranks: [s.rank], alpha: s.alpha, seed: s.seed, rounds: PLAN_ROUNDS, imatrix, quantize }, (d, t) => {
    progress('planning', d, t);
    if (signal.aborted) throw stopped();
  }).catch((e: unknown) => {
    // Cancel destroys the pool, which refuses the chunks still running: that is the stop, not a failure.
    throw signal.aborted ? stopped() : e;
  });
  k.plan = { key, plan };
  return plan;
}

/** The planned split of every layer (the base and the LoRA start), weighted as the plan was. */
export function applyPlan(file: LoadedModel, plan: BudgetPlan, alpha: number, onLayer: (done: number, total: number) => void, quantize: Quantizer = ggmlQuantize) {
  return applyBudgetPlan(file, plan, { alpha, imatrix: plan.imatrix ? calibrationOf(file) : null, quantize }, onLayer);
}

export async function budgetPlan(req: EngineRequest<'budget-plan'>, io: HandlerIO<'budget-plan'>, env: HandlerEnv): Promise<BudgetPlanReport> {
  const s = checkSettings(req as TrainSettings);
  const file = env.models.current;
  if (!file) throw new NoModelError('No model is loaded: open a .gguf file or a Hugging Face model folder first.');
  const { result: plan, use } = await withQuantizePool(io.signal, (quantize) => budgetPlanFor(file, s, io.progress, io.signal, quantize));
  const calibration = plan.imatrix ? (kept.get(file)?.calibration?.report.id ?? null) : null;
  return assertPlainData(
    {
      budget: plan.budget, bits: plan.bits, bytes: plan.bytes, weights: plan.weights, error: plan.error, imatrix: calibration,
      rows: plan.rows.map((r) => ({ name: r.name, type: r.type, rank: r.rank, bytes: r.bytes, error: r.error, rel: r.norm > 0 ? r.error / r.norm : 0 })),
      skipped: [...plan.skipped],
      pool: use,
    },
    'budget-plan',
  );
}
