// The quantized base a studio run builds before its first step (src/worker/train.ts),
// as `sub4 tune` builds it: ReALLM's learned codebooks with the low-rank start
// of the LoRA factors, LQ-LoRA under a bit budget (the plan the panel showed,
// split on a pool of nested workers), or every linear at `bits` (RTN, or
// LQ-LoRA's split, importance-weighted when the model was calibrated). Nothing
// for a run on the file's own types.
import type { GpuContext } from '../gpu/device.ts';
import { gpuAssigner } from '../gpu/kernels/vq_assign.ts';
import type { LoadedModel } from '../io/loaded_model.ts';
import { withGgufLayers, type GgufLayer } from '../train/budget/overlay.ts';
import type { BudgetPlan } from '../train/budget/plan.ts';
import { ReallmError } from '../train/reallm.ts';
import { quantizeForTuning, reallmForTuning } from '../train/setup.ts';
import { applyPlan, budgetPlanFor, lqloraWeightsOf } from './calibrate.ts';
import { CancelledError, RequestParamError } from './errors.ts';
import type { HandlerIO } from './handler_env.ts';
import { quantOf, type CheckedSettings } from './train_data.ts';
import { withQuantizePool } from './quantize_pool.ts';

export interface RunBase {
  /** The model the run builds on: the file, or the file with the plan's GGUF-typed or ReALLM's codebook layers over it. */
  base: LoadedModel;
  /** What sub4 quantized (float layers → QTensor) and the LoRA start, or null on the file's own types. */
  prepared: Awaited<ReturnType<typeof quantizeForTuning>> | null;
  budgetRun: { plan: BudgetPlan; ggufLayers: Map<string, GgufLayer> } | null;
  reallmRun: Awaited<ReturnType<typeof reallmForTuning>> | null;
  /**
   * What built the base, when the page's state (a budget plan, a calibration) did: kept in the checkpoint so
   * that a resume after a reload, which plans again from the settings, never continues on another base.
   */
  baseKey: string | null;
}

/** Build the run's base; `notes` hears the lines the run reports, `signal` stops a budget split between chunks. */
export async function buildRunBase(ctx: GpuContext, file: LoadedModel, s: CheckedSettings, notes: string[], io: HandlerIO<'train'>, signal: AbortSignal): Promise<RunBase> {
  const quant = quantOf(s);
  const none: RunBase = { base: file, prepared: null, budgetRun: null, reallmRun: null, baseKey: null };
  if (s.method === 'reallm') {
    // ReALLM (sub4 tune --method reallm --bits B): learned codebooks + the low-rank start of the LoRA factors.
    io.progress('quantizing', 0, 1);
    try {
      const reallmRun = await reallmForTuning(file, { bits: s.bits, assign: gpuAssigner(ctx) }, { rank: s.rank, alpha: s.alpha, seed: s.seed }, (line) => notes.push(line), (d, t) => io.progress('quantizing', d, t));
      return { ...none, base: withGgufLayers(file, new Map(), reallmRun.vq), prepared: { quantized: new Map(), factors: reallmRun.factors }, reallmRun };
    } catch (e) {
      if (e instanceof ReallmError) throw new RequestParamError('bits', e.message);
      throw e;
    }
  }
  if (quant && s.budget !== null) {
    // LQ-LoRA under a bit budget: the plan the panel showed (kept by budget-plan, else measured now), split as planned.
    // Both quantize on one pool of nested workers (quantize_pool.ts), ended before training starts.
    const { result: { plan, applied } } = await withQuantizePool(signal, async (quantize) => {
      const plan = await budgetPlanFor(file, s, io.progress, signal, quantize);
      notes.push(`Bit budget ${s.budget}: ${plan.rows.length} matrices planned at ${plan.bits.toFixed(3)} bits per weight (LoRA included), error ${plan.error.toExponential(3)}${plan.imatrix ? ' (importance-weighted)' : ''}`);
      io.progress('quantizing', 0, 1);
      // A stop destroys the pool, refusing the chunks still running: that is the stop, not a failure.
      const applied = await applyPlan(file, plan, s.alpha, (d, t) => io.progress('quantizing', d, t), quantize).catch((e: unknown) => {
        throw signal.aborted ? new CancelledError(`Training stopped: ${String(signal.reason)}.`) : e;
      });
      return { plan, applied };
    });
    return {
      base: withGgufLayers(file, applied.ggufLayers),
      prepared: { quantized: applied.quantized, factors: applied.factors },
      budgetRun: { plan, ggufLayers: applied.ggufLayers },
      reallmRun: null,
      baseKey: `budget plan ${plan.rows.map((r) => `${r.name}:${r.type}:${r.rank}:${r.error}`).join('|')}${plan.imatrix ? ' (importance-weighted)' : ''}`,
    };
  }
  if (quant) {
    io.progress('quantizing', 0, 1);
    // The weighted split's per-layer lines (one per linear weight) stay out of the run's notes: its summary line says it.
    const log = (line: string) => void (/^LQ-LoRA \S+: weighted error /.test(line) || notes.push(line));
    // A calibrated model's LQ-LoRA split is importance-weighted (sub4 tune --weighting imatrix).
    const weights = s.method === 'lqlora' ? lqloraWeightsOf(file, log) : undefined;
    const prepared = await quantizeForTuning(file, s.method, quant, { rank: s.rank, alpha: s.alpha, seed: s.seed }, log, (d, t) => io.progress('quantizing', d, t), weights);
    return { ...none, prepared, baseKey: weights ? 'lqlora split weighted by the calibration' : null };
  }
  return none;
}
