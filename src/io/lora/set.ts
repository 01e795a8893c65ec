// A set of LoRA factors, one per (layer, linear role), in the engine's row
// layout, and the module names both adapter formats use (PEFT keys, HF → GGUF
// names). Read from PEFT and llama.cpp adapters (io), filled from a trained
// run (train), checked and written by the exporters (src/export).
import { LINEAR_ROLES, type LinearRole } from '../../arch/params.ts';

/** The HF module path of each role inside `model.layers.N.` (PEFT keys, HF → GGUF names). */
export const LORA_MODULES: Record<LinearRole, string> = {
  q: 'self_attn.q_proj',
  k: 'self_attn.k_proj',
  v: 'self_attn.v_proj',
  o: 'self_attn.o_proj',
  gate: 'mlp.gate_proj',
  up: 'mlp.up_proj',
  down: 'mlp.down_proj',
};

/** Leaf module name of a role ('q_proj'), as PEFT's target_modules lists it. */
export const moduleLeaf = (role: LinearRole): string => LORA_MODULES[role].split('.')[1];

/** A factor's rank: its own, else the set's. */
export const factorRank = (set: LoraSet, f: LoraFactor): number => f.rank ?? set.rank;

/** Whether the factors have more than one rank (formats with one rank per adapter refuse such a set). */
export const mixedRanks = (set: LoraSet): boolean => set.factors.some((f) => factorRank(set, f) !== set.rank);

/** Factors in file order: by layer, then the forward's role order. */
export function sortedFactors(set: LoraSet): LoraFactor[] {
  return [...set.factors].sort((x, y) => x.layer - y.layer || LINEAR_ROLES.indexOf(x.role) - LINEAR_ROLES.indexOf(y.role));
}

/** The first NaN/±Infinity of an array, as text, or null. */
export function firstNonFinite(x: Float32Array): string | null {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return `${x[i]} at index ${i}`;
  return null;
}

/**
 * LoRA factors of one linear layer, in the engine's row layout (= Hugging Face
 * order: q/k rows half-split, src/arch/names.ts). y = W·x + scale·B·(A·x).
 */
export interface LoraFactor {
  layer: number;
  role: LinearRole;
  /** A: [rank, inFeatures] row-major. */
  a: Float32Array;
  /** B: [outFeatures, rank] row-major. */
  b: Float32Array;
  inFeatures: number;
  outFeatures: number;
  /** This factor's rank when it differs from the set's (a --budget plan's per-matrix ranks); its scale is alpha / rank. */
  rank?: number;
  /**
   * DoRA's magnitude m [outFeatures] (PEFT's lora_magnitude_vector): the layer is
   * (m/n)·(W + scale·B·A) with n its row norms. Absent: plain LoRA.
   */
  magnitude?: Float32Array;
}

export interface LoraSet {
  /** Every factor's rank, but where a factor names its own (LoraFactor.rank). */
  rank: number;
  /** scale = alpha / rank (PEFT and llama.cpp alike; no rsLoRA). */
  alpha: number;
  factors: LoraFactor[];
}
