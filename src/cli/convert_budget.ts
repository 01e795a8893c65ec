// `sub4 convert <float model> --budget B [--imatrix F] [--types ...]`: LQ-LoRA's
// bit budget without the LoRA (post-training quantization): every linear matrix
// gets the GGUF type that, with the others, minimises the total (importance-
// weighted) reconstruction error within B bits per linear weight — the same
// candidates (rank 0 only) and the same exact knapsack as `sub4 tune --budget`
// (src/train/budget/). The plan is printed (one row per matrix: type, bytes,
// error; totals and bits per weight), written into the GGUF's metadata
// (src/export/budget_kv.ts), and the file is written by the converter with the
// plan's type per matrix (each encoded by llama.cpp's quantizer with the same
// importance weights the plan measured with). Tensors outside the budget
// (embeddings, output, norms) follow --type (default F16).
import { UsageError } from './args.ts';
import { numFlag } from './model_gpu.ts';
import { budgetChoices } from './tune_base.ts';
import { CliProgress } from './progress.ts';
import { planBudget, formatPlan, type BudgetPlan } from '../train/budget/plan.ts';
import { budgetPlanKv } from '../export/budget_kv.ts';
import type { LoadedModel } from '../io/loaded_model.ts';
import type { ConvertOptions } from '../export/convert/convert.ts';
import { GgmlType } from '../quant/formats.ts';
import type { Imatrix } from '../io/imatrix/index.ts';
import type { Quantizer } from '../quant/quantize/pool.ts';

type Values = Record<string, string | boolean | undefined>;

/** The --budget flags, checked before the model is read. */
export function budgetFlags(values: Values): { budget: number; types: string[] | null } | null {
  if (values.budget === undefined) {
    if (values.types !== undefined) throw new UsageError('--types belongs to --budget');
    return null;
  }
  if (values.pure) throw new UsageError('--budget chooses each matrix\'s type itself; --pure has nothing to apply to');
  const types = typeof values.types === 'string' ? values.types.split(',').map((t) => t.trim()).filter(Boolean) : null;
  return { budget: numFlag(values.budget, 'budget', 4, 0.5, 32), types };
}

/**
 * Measure and solve the plan over `model`'s float linear layers; print it; and
 * return the converter options that write it (per-tensor types, metadata).
 * A budget below the cheapest plan throws solve.ts's BudgetError, naming the minimum.
 */
export async function planConvertBudget(
  model: LoadedModel,
  flags: { budget: number; types: string[] | null },
  /** Already checked for non-finite entries (convert_imatrix.ts importanceOf). */
  imatrix: Imatrix | null,
  json: boolean,
  quantize: Quantizer,
): Promise<{ plan: BudgetPlan; types: Map<string, GgmlType>; extraKv: NonNullable<ConvertOptions['extraKv']> }> {
  const choices = budgetChoices(flags.types, 'a GGUF file');
  const progress = CliProgress.for(json);
  const plan = await planBudget(model, { budget: flags.budget, choices, ranks: [0], alpha: 1, seed: 0, rounds: 1, imatrix, quantize }, (d, t) => progress.update('plan', d, t, 'layers'));
  progress.end();
  for (const k of plan.skipped) if (!json) process.stderr.write(`not a candidate: ${k}\n`);
  if (json) console.log(JSON.stringify({ type: 'plan', ...plan }));
  else formatPlan(plan, { lora: false }).forEach((line) => console.log(line));
  const types = new Map<string, GgmlType>();
  for (const r of plan.rows) {
    const g = model.tensors.get(r.name)!.ggufName;
    if (!g) throw new RangeError(`${r.name} has no GGUF name to write its ${r.type} blocks under`);
    types.set(g, GgmlType[r.type as keyof typeof GgmlType]);
  }
  return { plan, types, extraKv: budgetPlanKv(plan, imatrix ? 'imatrix' : 'none') };
}
