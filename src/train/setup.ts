// What a fine-tuning run is made of before the first step, shared by `sub4 tune`
// and the studio's worker (src/worker/train.ts) so the two build the same run
// from the same choices: the method as the user names it (lqlora included),
// the TrainConfig it becomes on this model, the optional quantization of float
// weights (RTN, or LQ-LoRA's quantize / low-rank split), the LQ-LoRA start of
// the LoRA factors, and the storage the memory planner should count. ReALLM
// (reallm) is the same with a learned-VQ base (src/train/reallm.ts): its
// layers become codebook tensors through the overlay (withGgufLayers' vqLayers).
import type { LoadedModel } from '../io/loaded_model.ts';
import { isQuantized } from '../model/linear.ts';
import { storageOf, type LinearStorage } from '../model/planner.ts';
import { LINEAR_ROLES, paramSpec, type LinearRole } from '../arch/params.ts';
import { TrainConfigError, type TrainConfig, type Trainable } from '../model/trainable.ts';
import type { QTensor } from '../quant/qtensor.ts';
import { lqloraInit, type RowColWeights } from './lqlora.ts';
import { originalWeights, quantizeModelLinears, type QuantizeOptions } from './quantize_model.ts';
import { reallmCodebook, reallmInit, type ReallmCodebook } from './reallm.ts';
import type { Assigner } from '../quant/vq/kmeans.ts';
import type { VqTensor } from '../quant/vq/vqtensor.ts';
import { importanceWeights, type Imatrix } from '../io/imatrix/index.ts';

export const TUNE_METHODS = ['peqa', 'lora', 'peqa+lora', 'lqlora', 'reallm'] as const;
/** The method as the user picks it; lqlora and reallm train as lora on a base they build themselves. */
export type TuneMethod = (typeof TUNE_METHODS)[number];
/** `sub4 tune`'s methods: the studio's. */
export const CLI_TUNE_METHODS = TUNE_METHODS;
export type CliTuneMethod = (typeof CLI_TUNE_METHODS)[number];

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

/** What a ReALLM base is, said before training (the plan's notes): the layout is AQLM's, so that export is exact. */
export const REALLM_LAYOUT_NOTE =
  'ReALLM: every linear layer becomes a learned codebook with one scale per output row — the layout an AQLM checkpoint holds (it has no per-group scales), so the run exports exactly as AQLM + a PEFT adapter';

/**
 * The TrainConfig of `method` on this model. `quantizedHere`: sub4 quantizes
 * every linear layer first, so PEQA trains all seven roles; otherwise PEQA
 * trains the roles the file stores quantized and `notes` names the rest.
 */
export function trainConfig(file: LoadedModel, method: CliTuneMethod, rank: number, alpha: number, seed: number, quantizedHere: boolean): { cfg: TrainConfig; notes: string[] } {
  const notes: string[] = [];
  // LQ-LoRA trains LoRA factors; what differs is their start and the base they sit on (quantizeForTuning).
  const cfg: TrainConfig = { method: method === 'lqlora' || method === 'reallm' ? 'lora' : method };
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
  if (method === 'reallm') notes.push(REALLM_LAYOUT_NOTE);
  return { cfg, notes };
}

/**
 * `--bits`: every linear layer quantized from the file's float weights (RTN,
 * integer zero points, MSE clip search at 2–3 bits). `lqlora`: the base and the
 * LoRA start come from LQ-LoRA's alternating quantize / low-rank split instead.
 * `onLayer` hears each LQ-LoRA layer done (the slow part); yields between layers
 * happen through the tensor reads, so a worker still hears its messages.
 * `weights` (data-aware LQ-LoRA, src/train/weighting.ts): each layer's rank-1
 * importance by engine name; its weighted error is logged per layer.
 */
export async function quantizeForTuning(
  file: LoadedModel,
  method: CliTuneMethod,
  q: QuantizeOptions,
  lora: LoraChoice,
  log: (s: string) => void,
  onLayer?: (done: number, total: number) => void,
  weights?: Map<string, RowColWeights>,
): Promise<{ quantized: Map<string, QTensor>; factors: LoraStart | null }> {
  if (method !== 'lqlora') return { quantized: await quantizeModelLinears(file, q), factors: null };
  const quantized = new Map<string, QTensor>();
  const factors: LoraStart = new Map();
  const weighted: number[] = [];
  const linears = paramSpec(file.config).filter((p) => p.kind === 'linear' && p.layer !== null);
  for (const p of linears) {
    const t = file.tensors.get(p.name)!;
    const [rows, cols] = t.shape;
    const layer = p.layer!;
    const wt = weights?.get(p.name);
    const init = lqloraInit(await originalWeights(file, t, 'LQ-LoRA'), rows, cols, { ...q, rank: lora.rank, alpha: lora.alpha, rounds: 3, seed: lora.seed + layer * 7 + LINEAR_ROLES.indexOf(p.role as LinearRole), weights: wt }, p.name);
    if (init.weightedErrors) {
      const we = init.weightedErrors;
      log(`LQ-LoRA ${p.name}: weighted error ${we[0].toFixed(4)} (round 1) → ${we[we.length - 1].toFixed(4)} (round ${we.length}); unweighted ${init.errors[init.errors.length - 1].toFixed(4)}`);
      weighted.push(we[we.length - 1]);
    }
    quantized.set(p.name, init.q);
    factors.set(`${layer}.${p.role}`, { a: init.a, b: init.b });
    onLayer?.(quantized.size, linears.length);
  }
  log(`LQ-LoRA: ${quantized.size} layers quantized with a rank-${lora.rank} correction${weighted.length ? `; ${weighted.length} weighted, mean weighted error ${(weighted.reduce((a, b) => a + b, 0) / weighted.length).toFixed(4)}` : ''}`);
  return { quantized, factors };
}

export interface ReallmChoice {
  /** --bits B (index bits per weight), or null when --vq-dim and --vq-bits say it all. */
  bits: number | null;
  vqDim?: number | null;
  vqBits?: number | null;
  imatrix?: Imatrix | null;
  /** Most alternating rounds (default 3). */
  rounds?: number;
  /** Lloyd iterations per codebook (default 20). */
  iters?: number;
  /** The GPU's nearest-entry search, when a device is at hand. */
  assign?: Assigner;
}

/**
 * `--method reallm`: every layer linear split into a learned codebook (one
 * (d, k) for the whole model: reallmCodebook) and a rank-r correction that
 * starts the LoRA factors. The codebook tensors go to the engine through
 * withGgufLayers(file, new Map(), vq).
 */
export async function reallmForTuning(
  file: LoadedModel,
  o: ReallmChoice,
  lora: LoraChoice,
  log: (s: string) => void,
  onLayer?: (done: number, total: number) => void,
): Promise<{ vq: Map<string, VqTensor>; factors: LoraStart; codebook: ReallmCodebook; bitsPerWeight: number; errors: { name: string; error: number; vqOnly: number; rounds: number }[] }> {
  const linears = paramSpec(file.config).filter((p) => p.kind === 'linear' && p.layer !== null);
  const codebook = reallmCodebook(o.bits, linears.map((p) => ({ name: p.name, cols: p.shape[1] })), { dim: o.vqDim, bits: o.vqBits });
  log(`ReALLM: learned codebooks of 2^${codebook.bits} entries of ${codebook.dim} weights (${codebook.why}), rank-${lora.rank} correction${o.imatrix ? ', importance-weighted' : ''}`);
  const vq = new Map<string, VqTensor>();
  const factors: LoraStart = new Map();
  const errors: { name: string; error: number; vqOnly: number; rounds: number }[] = [];
  let bits = 0;
  let weights = 0;
  let weighted = 0;
  for (const p of linears) {
    const t = file.tensors.get(p.name)!;
    const [rows, cols] = t.shape;
    const layer = p.layer!;
    const found = o.imatrix && t.ggufName ? (importanceWeights(o.imatrix, t.ggufName) ?? null) : null;
    const imp = found && found.length === cols ? found : null;
    if (imp) weighted++;
    const init = await reallmInit(await originalWeights(file, t, 'ReALLM'), rows, cols, {
      rank: lora.rank, alpha: lora.alpha, rounds: o.rounds ?? 3, dim: codebook.dim, bits: codebook.bits, iters: o.iters,
      importance: imp ?? undefined, seed: lora.seed + layer * 7 + LINEAR_ROLES.indexOf(p.role as LinearRole), assign: o.assign,
    }, p.name);
    vq.set(p.name, init.q);
    factors.set(`${layer}.${p.role}`, { a: init.a, b: init.b });
    errors.push({ name: p.name, error: init.errors[init.kept], vqOnly: init.vqOnlyError, rounds: init.kept + 1 });
    // AQLM's storage: k/d index bits, an f16 scale per row and the f16 table.
    bits += rows * cols * (codebook.bits / codebook.dim) + rows * 16 + 2 ** codebook.bits * codebook.dim * 16;
    weights += rows * cols;
    onLayer?.(vq.size, linears.length);
  }
  const mean = (f: (e: (typeof errors)[number]) => number) => errors.reduce((s, e) => s + f(e), 0) / errors.length;
  if (o.imatrix) log(`ReALLM: ${weighted} of ${linears.length} layers weighted by the imatrix${weighted < linears.length ? ' (the others have no entry of their width in it)' : ''}`);
  log(`ReALLM: ${vq.size} layers; mean relative error ${mean((e) => e.error).toFixed(4)} (codebook alone ${mean((e) => e.vqOnly).toFixed(4)}); ${(bits / weights).toFixed(3)} bits per linear weight with scales and tables (${(codebook.bits / codebook.dim).toFixed(3)} in the codes), LoRA not counted`);
  return { vq, factors, codebook, bitsPerWeight: bits / weights, errors };
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
  if (tr.config.lora?.dora) tr.initDoraMagnitude(); // m from the started factors, as PEFT's DoRA init
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
