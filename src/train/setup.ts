// What a fine-tuning run is made of before the first step, shared by `sub4 tune`
// and the studio's worker (src/worker/train.ts) so the two build the same run
// from the same choices: the method as the user names it (lqlora included),
// the TrainConfig it becomes on this model, the optional quantization of float
// weights (RTN, or LQ-LoRA's quantize / low-rank split), the LQ-LoRA start of
// the LoRA factors, and the storage the memory planner should count.
import type { LoadedModel } from '../io/loaded_model.ts';
import { isQuantized } from '../model/linear.ts';
import { storageOf, type LinearStorage } from '../model/planner.ts';
import { LINEAR_ROLES, paramSpec, type LinearRole } from '../arch/params.ts';
import { TrainConfigError, type TrainConfig, type Trainable } from '../model/trainable.ts';
import type { QTensor } from '../quant/qtensor.ts';
import { lqloraInit } from './lqlora.ts';
import { originalWeights, quantizeModelLinears, type QuantizeOptions } from './quantize_model.ts';

export const TUNE_METHODS = ['peqa', 'lora', 'peqa+lora', 'lqlora'] as const;
/** The method as the user picks it; lqlora trains as lora on a base it quantizes itself. */
export type TuneMethod = (typeof TUNE_METHODS)[number];

export interface LoraChoice {
  rank: number;
  alpha: number;
  seed: number;
}

/** LoRA factors to start from, by `${layer}.${role}` (LQ-LoRA's low-rank correction). */
export type LoraStart = Map<string, { a: Float32Array; b: Float32Array }>;

/** Roles PEQA can train: those quantized in every layer (others, e.g. an F16 down_proj, are named in `left`). */
export function peqaRoles(file: LoadedModel): { roles: LinearRole[]; left: string[] } {
  const byRole = new Map<LinearRole, boolean>();
  const left: string[] = [];
  for (const p of paramSpec(file.config)) {
    if (p.kind !== 'linear' || p.layer === null) continue;
    const t = file.tensors.get(p.name);
    const q = t !== undefined && isQuantized(t);
    if (!q) left.push(`${p.name} (${t?.type ?? 'missing'})`);
    byRole.set(p.role as LinearRole, (byRole.get(p.role as LinearRole) ?? true) && q);
  }
  return { roles: LINEAR_ROLES.filter((r) => byRole.get(r)), left };
}

/**
 * The TrainConfig of `method` on this model. `quantizedHere`: sub4 quantizes
 * every linear layer first, so PEQA trains all seven roles; otherwise PEQA
 * trains the roles the file stores quantized and `notes` names the rest.
 */
export function trainConfig(file: LoadedModel, method: TuneMethod, rank: number, alpha: number, seed: number, quantizedHere: boolean): { cfg: TrainConfig; notes: string[] } {
  const notes: string[] = [];
  // LQ-LoRA trains LoRA factors; what differs is their start and the base they sit on (quantizeForTuning).
  const cfg: TrainConfig = { method: method === 'lqlora' ? 'lora' : method };
  if (method === 'peqa' || method === 'peqa+lora') {
    if (quantizedHere) {
      cfg.peqaTargets = LINEAR_ROLES;
      if (method === 'peqa+lora') cfg.lora = { rank, alpha, seed };
      return { cfg, notes };
    }
    const { roles, left } = peqaRoles(file);
    if (roles.length === 0)
      throw new TrainConfigError(`${file.name}: no linear layer is stored quantized, so PEQA has no scales to train; use --method lora (or quantize the model first, e.g. with sub4 convert)`);
    if (left.length) notes.push(`PEQA trains ${roles.join(', ')}; not quantized, left frozen${method === 'peqa+lora' ? ' (LoRA still adapts them)' : ''}: ${left.join(', ')}`);
    cfg.peqaTargets = roles;
  }
  if (method !== 'peqa') cfg.lora = { rank, alpha, seed };
  return { cfg, notes };
}

/**
 * `--bits`: every linear layer quantized from the file's float weights (RTN,
 * integer zero points, MSE clip search at 2–3 bits). `lqlora`: the base and the
 * LoRA start come from LQ-LoRA's alternating quantize / low-rank split instead.
 * `onLayer` hears each LQ-LoRA layer done (the slow part); yields between layers
 * happen through the tensor reads, so a worker still hears its messages.
 */
export async function quantizeForTuning(
  file: LoadedModel,
  method: TuneMethod,
  q: QuantizeOptions,
  lora: LoraChoice,
  log: (s: string) => void,
  onLayer?: (done: number, total: number) => void,
): Promise<{ quantized: Map<string, QTensor>; factors: LoraStart | null }> {
  if (method !== 'lqlora') return { quantized: await quantizeModelLinears(file, q), factors: null };
  const quantized = new Map<string, QTensor>();
  const factors: LoraStart = new Map();
  const linears = paramSpec(file.config).filter((p) => p.kind === 'linear' && p.layer !== null);
  for (const p of linears) {
    const t = file.tensors.get(p.name)!;
    const [rows, cols] = t.shape;
    const layer = p.layer!;
    const init = lqloraInit(await originalWeights(file, t, 'LQ-LoRA'), rows, cols, { ...q, rank: lora.rank, alpha: lora.alpha, rounds: 3, seed: lora.seed + layer * 7 + LINEAR_ROLES.indexOf(p.role as LinearRole) }, p.name);
    quantized.set(p.name, init.q);
    factors.set(`${layer}.${p.role}`, { a: init.a, b: init.b });
    onLayer?.(quantized.size, linears.length);
  }
  log(`LQ-LoRA: ${quantized.size} layers quantized with a rank-${lora.rank} correction`);
  return { quantized, factors };
}

/** Overwrite the fresh LoRA factors of `tr` with a start (LQ-LoRA's correction). */
export function applyLoraStart(tr: Trainable, factors: LoraStart): void {
  tr.layers.forEach((roles, l) => {
    for (const [role, t] of Object.entries(roles)) {
      const f = factors.get(`${l}.${role}`);
      if (f && t?.lora) {
        t.lora.lora.a.write(f.a);
        t.lora.lora.b.write(f.b);
      }
    }
  });
}

/**
 * Storage the planner should count: the file's own, or — when sub4 quantizes
 * first — every layer linear at `q` (the LM head and embeddings keep the file's).
 */
export function planStorage(file: LoadedModel, q: QuantizeOptions | null): (name: string) => LinearStorage {
  const own = storageOf(file);
  if (!q) return own;
  const linears = new Map(paramSpec(file.config).filter((p) => p.kind === 'linear' && p.layer !== null).map((p) => [p.name, p.shape[1]]));
  return (name) => {
    const cols = linears.get(name);
    return cols === undefined ? own(name) : { kind: 'quant', bits: q.bits, groupSize: q.groupSize === 'channel' ? cols : q.groupSize };
  };
}
