// The coarse estimate of a standard Llama block stack from its shape alone
// (no LoadedModel): every linear layer at one grid, PEQA on all seven roles or
// LoRA of one rank. It is planStep (planner.ts) on a synthetic config, kept
// apart from the per-tensor planner it calls.
import type { LlamaConfig } from '../arch/config.ts';
import type { TrainConfig } from './trainable.ts';
import { planStep, type LinearStorage, type Plan } from './planner.ts';

export interface PlannerShape {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  tieWordEmbeddings: boolean;
}

export type TrainMethod = 'peqa' | 'lora';

export interface PlanInput {
  model: PlannerShape;
  method: TrainMethod;
  batch: number;
  seq: number;
  /** Bits of the integer codes of the quantized linear layers. */
  bits: number;
  /** Quantization group size along the input dimension. */
  groupSize: number;
  /** LoRA rank (method lora). */
  rank?: number;
  /** Tokens per cross-entropy chunk: T×V logits are never resident at once. */
  ceChunk?: number;
}

/** The seven linear layers of a Llama block as [out, in]. */
export function linearShapes(m: PlannerShape): [number, number][] {
  const q = m.numHeads * m.headDim;
  const kv = m.numKvHeads * m.headDim;
  const C = m.hiddenSize;
  const F = m.intermediateSize;
  return [
    [q, C],
    [kv, C],
    [kv, C],
    [C, q],
    [F, C],
    [F, C],
    [C, F],
  ];
}

/**
 * The model card's estimate: every linear layer (and an untied head) at `bits`
 * in groups of `groupSize`, the token table f32, PEQA as scale+offset on all seven roles or LoRA of
 * `rank` on all seven, AdamW with rollback; no biases, plain RoPE.
 */
export function planTraining(p: PlanInput): Plan {
  const config: LlamaConfig = {
    architecture: 'llama', ropeTheta: 10000, ropeScaling: { type: 'none' }, rmsNormEps: 1e-5, qkvBias: false, oBias: false, mlpBias: false,
    bosTokenId: null, eosTokenIds: [], maxPositions: p.seq, slidingWindow: null, ...p.model,
  };
  const train: TrainConfig = p.method === 'peqa' ? { method: 'peqa', peqa: 'scale+offset' } : { method: 'lora', lora: { rank: p.rank ?? 0 } };
  // The token table stays f32 here (a float file's); a quantized file's is planned from the file (planStep with storageOf).
  const storage = (name: string): LinearStorage => (name === 'model.embed_tokens.weight' ? { kind: 'dense' } : { kind: 'quant', bits: p.bits, groupSize: p.groupSize });
  const { total, parts } = planStep({ config, storage, train, B: p.batch, T: p.seq, ceChunk: p.ceChunk });
  return { total, parts };
}
