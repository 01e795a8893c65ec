// A bit-budget plan (src/train/budget/plan.ts) as GGUF metadata, so a file
// quantized under a budget says what it chose and why without its model card:
// `sub4 convert --budget` writes it, and tune's GGUF exports of a --budget run
// carry the same keys (provenanceKv). One string per matrix, in plan order:
// "name type rank bytes error" (rank 0 for convert, which has no LoRA).
import { GgufValueType as T, type GgufKv } from '../io/gguf/types.ts';

/** The plan facts the keys hold (BudgetPlan and the manifest's copy of it both have them). */
export interface BudgetFacts {
  budget: number;
  bits: number;
  bytes: number;
  weights: number;
  error: number;
  rows: readonly { name: string; type: string; rank: number; bytes: number; error: number }[];
}

export function budgetPlanKv(p: BudgetFacts, weighting: string): [string, GgufKv][] {
  return [
    ['general.sub4.budget.bits_per_weight', { type: T.FLOAT32, value: p.budget }],
    ['general.sub4.budget.used_bits_per_weight', { type: T.FLOAT32, value: p.bits }],
    ['general.sub4.budget.bytes', { type: T.UINT64, value: p.bytes }],
    ['general.sub4.budget.weights', { type: T.UINT64, value: p.weights }],
    ['general.sub4.budget.error', { type: T.FLOAT64, value: p.error }],
    ['general.sub4.budget.weighting', { type: T.STRING, value: weighting }],
    ['general.sub4.budget.plan', { type: T.ARRAY, arrayType: T.STRING, value: p.rows.map((r) => `${r.name} ${r.type} ${r.rank} ${r.bytes} ${r.error.toExponential(6)}`) }],
  ];
}
