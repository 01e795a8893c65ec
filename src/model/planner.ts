// Memory planner: predicts the peak GPU bytes of a training step (forward +
// backward + AdamW) before anything is allocated, so the studio and the CLI
// can refuse a run the device cannot hold, naming the limit and the figure.
//
// planStep counts, buffer by buffer, what the engine allocates, from the same
// tables the engine allocates from: the parameter table (src/arch/params.ts)
// and the activation spec (src/model/spec.ts), the backward workspace (src/model/grad_spec.ts), the
// quantized layouts of the GGUF block types, and the trainable state of
// src/model/trainable.ts with AdamW's moments and snapshots. Buffers are counted
// as the ledger counts them (≥ 4 bytes each). The peak is everything resident
// during a step plus the largest of three groups of temporaries that never
// coexist: a forward layer's LoRA products, the cross-entropy chunk (logits,
// hidden rows, partials), and a backward layer's (and its recomputation's)
// LoRA products. tests/gpu/model_planner.test.ts holds it to the ledger.
// planTraining is the model card's estimate of the same thing for a uniform
// quantization grid (bits, group) given before any file is read.
import { GpuLimitError } from '../gpu/errors.ts';
import { crossEntropySlices } from '../gpu/kernels/cross_entropy.ts';
import { qlinearForwardTemps } from '../gpu/kernels/qlinear.ts';
import type { LoadedModel } from '../io/loaded_model.ts';
import { BLOCK_FORMATS, ggmlTypeInfo, type GgmlType } from '../quant/formats.ts';
import { isVqGgmlType } from '../quant/vq/codecs.ts';
import { vqTypeFacts, type VqTypeFacts } from '../quant/vq/facts.ts';
import { indexBitsFor, vqWordsPerRow, type VqDim } from '../quant/vq/vqtensor.ts';
import { ggufParametrization, ggufToQTensor, isQuantGgmlType, type QuantGgmlType } from '../quant/gguf_qtensor.ts';
import { groupsPerRow, planeWidths, wordsPerRow } from '../quant/qtensor.ts';
import type { LlamaConfig } from '../arch/config.ts';
import { entryBytes, gradSpec } from './grad_spec.ts';
import { LINEAR_ROLES, paramSpec, type LinearRole } from '../arch/params.ts';
import { planActivations, type SaveMode } from './spec.ts';
import type { PeqaKind, TrainConfig } from './trainable.ts';
import { doraSideBytes } from './dora.ts';
import { loraRankAt } from './lora.ts';

export type PartName = 'base' | 'embeddings' | 'trainable' | 'optimizer' | 'activations' | 'logits' | 'workspace';

export interface Plan {
  total: number;
  /**
   * base: linear layers (codes, scales, offsets, biases), norms and the rotary table; embeddings: token table
   * (f32, or codes, scales and offsets when the file's is quantized) and an untied LM head; trainable: θ / LoRA factors, their gradients, parametrization maps and scratch;
   * optimizer: AdamW moments (and rollback snapshots) with the grad-norm scratch; activations: the forward's
   * buffers; logits: the cross-entropy chunk's temporaries; workspace: the backward's buffers, plus whatever
   * a layer's temporaries exceed the loss chunk's by.
   */
  parts: Record<PartName, number>;
}

export interface StepPlan extends Plan {
  /** The largest single buffer (code buffers excluded: they split by rows to fit a binding). */
  largest: { name: string; bytes: number };
}

/** How a linear weight is held on the GPU: f32, or QTensor codes of `bits` with an f32 scale and offset per group. */
/** How a linear weight is held: dense f32, or quantized with `bits`-bit codes per weight; codebook types (`vq`) say their own row size. */
export type LinearStorage = { kind: 'dense' } | { kind: 'quant'; bits: number; groupSize: number; type?: QuantGgmlType | GgmlType; vq?: VqTypeFacts };

export interface StepPlanInput {
  config: LlamaConfig;
  /** Storage of each linear weight by engine name (LM head included when untied), and of the token table. */
  storage(name: string): LinearStorage;
  train: TrainConfig;
  B: number;
  T: number;
  /** Activation plan (true: every activation kept, 'inputs': recomputation); default true. */
  save?: Exclude<SaveMode, false>;
  /** Cross-entropy rows per chunk; default 64 (ModelBackward's). */
  ceChunk?: number;
  /** AdamW's bad-step policy ('none': no optimizer counted); default 'rollback'. */
  optimizer?: 'rollback' | 'skip' | 'none';
  /**
   * Whether the device runs the f16 quantized forward (GpuContext.features.f16): its temporary copy of X is
   * half the f32 kernel's. Default false, the larger figure, so a plan made without a device never under-counts.
   */
  f16?: boolean;
  /**
   * Plan a whole Trainer run, not one step: its evaluations (activations of their own, kept for the run, and
   * the loss in chunks of 256 rows) and its greedy samples (a forward over up to `sampleLength` tokens with
   * activations of its own and one row of logits), both between steps while the step's buffers stay live.
   */
  run?: { sampleLength?: number };
}

/** Rows per chunk of Trainer.evaluate's loss (LlamaModel.tokenLoss's default). */
const EVAL_CHUNK = 256;

/** WebGPU's guaranteed maxStorageBufferBindingSize: code buffers are split into parts no larger. */
const MIN_BINDING = 128 << 20;

interface TypeFacts {
  bits: number;
  groupSize: number;
  blockSize: number;
  /** θ entries per block of the 'auto' (exportable) parametrization. */
  autoTheta: number;
}
const typeFacts = new Map<QuantGgmlType, TypeFacts>();

/** Layout facts of a block type, read off the decoder and parametrization of one empty block (no second table). */
export function quantTypeFacts(type: QuantGgmlType): TypeFacts {
  let f = typeFacts.get(type);
  if (!f) {
    const b = BLOCK_FORMATS[type];
    const { q, origin } = ggufToQTensor(type, new Uint8Array(b.bytesPerBlock), 1, b.blockSize);
    f = { bits: q.bits, groupSize: q.groupSize, blockSize: b.blockSize, autoTheta: ggufParametrization(q, origin).theta.length };
    typeFacts.set(type, f);
  }
  return f;
}

/** The storage of every linear weight and of the token table of a model as loadWeights will hold them. */
export function storageOf(model: LoadedModel): (name: string) => LinearStorage {
  return (name) => {
    const t = model.tensors.get(name);
    if (t?.quant) return { kind: 'quant', bits: t.quant.bits, groupSize: t.quant.groupSize }; // GPTQ: loaded as a QTensor
    if (t?.vq) return { kind: 'quant', bits: t.vq.bits / t.vq.dim, groupSize: t.shape[1], vq: learnedVqFacts(t.vq.dim as VqDim, t.vq.bits, t.shape[1]) }; // AQLM: a learned-table VqTensor
    if (t && t.ggmlType !== null && isVqGgmlType(t.ggmlType)) {
      const vq = vqTypeFacts(t.ggmlType);
      return { kind: 'quant', bits: vq.indexBits / vq.dim + (vq.signed ? 1 : 0), groupSize: vq.groupSize, type: t.ggmlType, vq };
    }
    if (!t || t.ggmlType === null || !isQuantGgmlType(t.ggmlType)) return { kind: 'dense' };
    const f = quantTypeFacts(t.ggmlType);
    return { kind: 'quant', bits: f.bits, groupSize: f.groupSize, type: t.ggmlType };
  };
}

/** AQLM: layout facts of a learned table of 2^bits entries, one scale per row, no signs (its own table per layer). */
function learnedVqFacts(dim: VqDim, bits: number, cols: number): VqTypeFacts {
  const indexBits = indexBitsFor(2 ** bits);
  return {
    dim,
    indexBits,
    signed: false,
    groupSize: cols,
    blockSize: dim,
    exactThetaPerBlock: null,
    tableBytes: 4 * Math.ceil((2 ** bits * dim) / 4) * 4, // zero-padded to whole vec4s (vq_gpu.ts)
    wordsPerRow: (c) => vqWordsPerRow({ cols: c, indexBits, signed: false, codebook: { dim } }),
  };
}

/** θ entries of a PEQA layer of G groups. */
function thetaCount(kind: PeqaKind, s: Extract<LinearStorage, { kind: 'quant' }>, rows: number, cols: number, G: number): number {
  // Grids without a GGUF type (sub4's RTN, GPTQ) have integer zero points: 'auto' is the 'scale' view (trainable.ts peqaFor).
  if (kind === 'scale' || (kind === 'auto' && !s.type)) return G;
  if (kind === 'scale+offset' || !s.type) return 2 * G;
  if (s.vq) return s.vq.exactThetaPerBlock === null ? G : ((rows * cols) / s.vq.blockSize) * s.vq.exactThetaPerBlock;
  const f = quantTypeFacts(s.type as QuantGgmlType);
  return ((rows * cols) / f.blockSize) * f.autoTheta;
}

export function planStep(p: StepPlanInput): StepPlan {
  const c = p.config;
  const { B, T } = p;
  const N = B * T;
  const parts: Record<PartName, number> = { base: 0, embeddings: 0, trainable: 0, optimizer: 0, activations: 0, logits: 0, workspace: 0 };
  let largest = { name: '', bytes: 0 };
  const count = (part: PartName, name: string, shape: number[], splittable = false) => {
    const bytes = entryBytes(shape);
    parts[part] += bytes;
    if (!splittable && bytes > largest.bytes) largest = { name, bytes };
    return bytes;
  };
  const trainedSizes: number[] = []; // element counts of the optimizer's parameters

  // Weights, as loadWeights uploads them.
  const spec = paramSpec(c);
  const tables = new Set<number | string>(); // AQLM: a learned table per layer, keyed by the layer's name
  for (const e of spec) {
    const part: PartName = e.role === 'embed' || e.role === 'lm_head' ? 'embeddings' : 'base';
    if (e.kind === 'rope_freqs') continue; // folded into the table below
    // The token table is held as a linear weight is (src/model/embedding.ts): f32, or quantized as the file has it.
    if (e.kind !== 'linear' && e.kind !== 'embedding') count(part, e.name, e.shape);
    else {
      const [O, I] = e.shape;
      const s = p.storage(e.name);
      if (s.kind === 'dense') count(part, e.name, e.shape);
      else if (s.vq) {
        // Codebook types (src/gpu/vq_gpu.ts): index and sign words per row, split into parts with no padding;
        // the table is uploaded once per device and type.
        count(part, `${e.name} codes`, [O, s.vq.wordsPerRow(I)], true);
        const tableKey = s.type ?? e.name; // AQLM layers have no ggml type and their own table
        if (!tables.has(tableKey)) (tables.add(tableKey), (parts[part] += s.vq.tableBytes));
        count(part, `${e.name} scale`, [O, groupsPerRow(I, s.groupSize)]);
        count(part, `${e.name} offset`, [O, groupsPerRow(I, s.groupSize)]);
      } else {
        count(part, `${e.name} codes`, [O, wordsPerRow(I, s.bits)], true);
        // 3/5/6-bit codes are repacked dense with one padding word per part (src/gpu/qtensor_gpu.ts); parts hold
        // as many rows as fit WebGPU's minimum binding size (128 MiB), so larger device limits only mean fewer.
        // A GGUF tensor converted on the GPU also keeps each part's raw rows within a binding (gguf_convert.ts).
        const raw = s.type ? (I / ggmlTypeInfo(s.type)!.blockSize) * ggmlTypeInfo(s.type)!.bytesPerBlock : 0;
        const rowsPerPart = Math.min(Math.floor((MIN_BINDING - 4) / (4 * wordsPerRow(I, s.bits))), raw ? Math.floor((MIN_BINDING - 8) / raw) : Infinity);
        if (planeWidths(s.bits)[1] > 0) parts[part] += 4 * Math.ceil(O / rowsPerPart);
        count(part, `${e.name} scale`, [O, groupsPerRow(I, s.groupSize)]);
        count(part, `${e.name} offset`, [O, groupsPerRow(I, s.groupSize)]);
      }
    }
  }
  // The RoPE table, and a second one when the sliding layers have their own base (Gemma 3: loadWeights' ropeLocal).
  for (let i = 0; i < (c.ropeThetaLocal !== undefined ? 2 : 1); i++) {
    count('base', 'rope.turns', [c.headDim / 2, 2]);
    count('base', 'rope.no_k', [1]);
  }

  // Trainable state (src/model/trainable.ts).
  const t = p.train;
  const peqa = t.method === 'peqa' || t.method === 'peqa+lora';
  const loraOn = t.method === 'lora' || t.method === 'peqa+lora';
  const peqaRoles = new Set<LinearRole>(peqa ? (t.peqaTargets ?? LINEAR_ROLES) : []);
  const loraRoles = new Set<LinearRole>(loraOn ? (t.lora?.targets ?? LINEAR_ROLES) : []);
  // Per matrix: a --budget plan gives each its own rank (0: no LoRA there).
  const rankOf = (e: { layer: number | null; role: string }) => (t.lora ? loraRankAt(t.lora, e.layer!, e.role) : 0);
  const hasLora = (e: { layer: number | null; role: string }) => loraRoles.has(e.role as LinearRole) && rankOf(e) > 0;
  const dora = loraOn && !!t.lora?.dora;
  const scratchKeys = new Set<string>();
  const linears = spec.filter((e) => e.kind === 'linear' && e.layer !== null);
  const stores = new Map(linears.map((e) => [e.name, p.storage(e.name)]));
  for (const e of linears) {
    const [O, I] = e.shape;
    const role = e.role as LinearRole;
    const s = stores.get(e.name)!;
    if (peqaRoles.has(role) && s.kind === 'quant') {
      const G = O * groupsPerRow(I, s.groupSize);
      const n = thetaCount(t.peqa ?? 'auto', s, O, I, G);
      for (const [what, len] of [['theta', n], ['grad', n], ['ptr', n + 1], ['a', G], ['b', G], ['ps', G], ['pm', G], ['coef', 2 * G], ['group', 2 * G], ['isOffset', 2 * G]] as const)
        count('trainable', `${e.name} peqa.${what}`, [len]);
      trainedSizes.push(n);
      const key = `${O}x${G / O}`;
      if (!scratchKeys.has(key)) {
        scratchKeys.add(key);
        count('trainable', `peqa.dscale.${key}`, [O, G / O]);
        count('trainable', `peqa.doffset.${key}`, [O, G / O]);
      }
    }
    if (t.codebooks && s.kind === 'quant' && s.vq) {
      // codebook_train.ts: table and row-scale gradients, the inverted index (start + one u32 per vector), dW scratch per shape.
      const table = s.vq.tableBytes / 4;
      const entries = Math.ceil(table / s.vq.dim);
      for (const [what, len] of [['table.grad', table], ['scale.grad', O], ['uses.start', entries + 1], ['uses', O * Math.ceil(I / s.vq.dim)]] as const) count('trainable', `${e.name} codebook.${what}`, [len]);
      trainedSizes.push(table, O);
      const key = `codebook.${O}x${I}`;
      if (!scratchKeys.has(key)) {
        scratchKeys.add(key);
        count('trainable', `${key}.dw`, [O, I]);
        count('trainable', `${key}.doffset`, [O, 1]);
      }
    }
    if (hasLora(e)) {
      const R = rankOf(e);
      for (const [what, shape] of [['lora_a', [R, I]], ['lora_b', [O, R]], ['lora_a.grad', [R, I]], ['lora_b.grad', [O, R]]] as const) count('trainable', `${e.name} ${what}`, [...shape]);
      trainedSizes.push(R * I, O * R);
      if (dora) {
        // src/model/dora.ts: m (trained), its gradient, the norms n and the frozen ‖W_o‖².
        for (const what of ['lora_magnitude', 'lora_magnitude.grad', 'dora_norm', 'dora_wsq']) count('trainable', `${e.name} ${what}`, [O]);
        trainedSizes.push(O);
      }
    }
  }
  if (t.norms)
    for (let i = 0; i < 2 * c.numLayers + 1; i++) {
      count('trainable', `norm ${i} grad`, [c.hiddenSize]);
      trainedSizes.push(c.hiddenSize);
    }

  // AdamW (src/train/optimizer.ts): m, v, and with rollback the last good θ, m, v; the grad-norm partials.
  const opt = p.optimizer ?? 'rollback';
  if (opt !== 'none' && trainedSizes.length) {
    const copies = opt === 'rollback' ? 5 : 2;
    for (const n of trainedSizes) for (let k = 0; k < copies; k++) count('optimizer', 'adamw state', [n]);
    count('optimizer', 'grad_norm.slots', [2 * (trainedSizes.reduce((a, n) => a + Math.ceil(n / 256), 0) + 1)]);
  }

  // Activations and the backward's buffers.
  for (const s of planActivations(c, B, T, p.save ?? true).slots) count('activations', `act.${s.key}`, s.shape);
  for (const e of gradSpec(c, B, T, !!t.norms)) count('workspace', `grad.${e.name}`, e.shape);

  // Temporaries. Each kernel call's temporary lives until its layer's submit.
  // A tied head is the linear over the token table's own buffers: dense, or the quantized linear.
  const lmHead = p.storage(c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
  const C = c.hiddenSize, V = c.vocabSize;
  // A quantized forward's temporaries for X (qlinear_forward_prep's XP and SX, or X in f16).
  const xTemps = (n: number, s: LinearStorage, I: number) =>
    s.kind === 'quant' ? qlinearForwardTemps(n, I, s.groupSize, !!p.f16).reduce((a, shape) => a + entryBytes(shape), 0) : 0;
  // The same in f32 plus qlinear's 4-byte LoRA stand-in (DoRA's f32 forwards, src/model/dora.ts).
  const xTemps32 = (n: number, s: LinearStorage, I: number) =>
    s.kind === 'quant' ? 4 + qlinearForwardTemps(n, I, s.groupSize, false).reduce((a, shape) => a + entryBytes(shape), 0) : 0;
  const head = (rows: number) => (lmHead.kind === 'quant' ? 4 + xTemps(rows, lmHead, C) : 0);
  // The cross-entropy chunk: hidden rows and their gradient, logits, per-slice partials, the head's temporaries.
  const ceOf = (rows: number) => entryBytes([rows, C]) * 2 + entryBytes([rows, V]) + entryBytes([rows, crossEntropySlices(V), 2]) + head(rows);
  const rows = Math.min(p.ceChunk ?? 64, N);
  const ce = ceOf(rows);
  largest = entryBytes([rows, V]) > largest.bytes ? { name: 'cross_entropy.logits', bytes: entryBytes([rows, V]) } : largest;
  /** The largest forward and backward layer temporaries over n tokens. */
  const layerTemps = (n: number) => {
    let fwd = 0, bwd = 0;
    for (let l = 0; l < c.numLayers; l++) {
      let f = 0, b = 0, recompute = 0;
      for (const e of linears.filter((x) => x.layer === l)) {
        const role = e.role as LinearRole;
        const lora = hasLora(e);
        const nr = entryBytes([n, rankOf(e)]);
        const quant = stores.get(e.name)!.kind === 'quant';
        const fw = (quant ? (lora ? nr : 4) : lora ? nr : 0) + xTemps(n, stores.get(e.name)!, e.shape[1]); // x·Aᵀ, or qlinear's 4-byte stand-in; X's copies
        f += fw;
        if (role !== 'down') recompute += fw;
        // Backward: dX (U = dY·B, or the 4-byte stand-in) and the LoRA gradients (U and X·Aᵀ again); dense: U and X·Aᵀ once.
        b += quant ? (lora ? 3 * nr : 4) : lora ? 2 * nr : 0;
        // DoRA (src/model/dora.ts): Z recomputed by an f32 forward (its X·Aᵀ and X copies), and dZ.
        if (lora && dora) b += 2 * entryBytes([n, e.shape[0]]) + nr + xTemps32(n, stores.get(e.name)!, e.shape[1]) - (quant ? 4 : 0);
      }
      fwd = Math.max(fwd, f);
      bwd = Math.max(bwd, b + (p.save === 'inputs' && l < c.numLayers - 1 ? recompute : 0));
    }
    return { fwd, bwd };
  };
  const { fwd, bwd } = layerTemps(N);
  const doraLayers = linears
    .filter((e) => dora && hasLora(e))
    .map((e) => ({ O: e.shape[0], I: e.shape[1], R: rankOf(e), xBytes: (n: number) => xTemps32(n, stores.get(e.name)!, e.shape[1]) }));
  let temps = Math.max(ce, fwd, bwd, doraSideBytes(doraLayers, entryBytes));
  if (p.run) {
    // Trainer.evaluate: its own activations for the run, then targets, mask and per-token loss, and the chunk.
    for (const s of planActivations(c, B, T, false).slots) count('activations', `eval.${s.key}`, s.shape);
    const er = Math.min(EVAL_CHUNK, N);
    temps = Math.max(temps, 3 * entryBytes([N]) + ceOf(er));
    largest = entryBytes([er, V]) > largest.bytes ? { name: 'eval cross_entropy.logits', bytes: entryBytes([er, V]) } : largest;
    // Trainer.sample: a forward over the prompt and what it generated so far, then one row of logits.
    const L = p.run.sampleLength ?? 0;
    if (L > 0) {
      const acts = planActivations(c, 1, L, false).slots.reduce((a, s) => a + entryBytes(s.shape), 0);
      temps = Math.max(temps, acts + Math.max(layerTemps(L).fwd, entryBytes([1, V]) + entryBytes([1, C]) + head(1)));
    }
  }
  parts.logits += ce;
  parts.workspace += temps - ce;
  const total = Object.values(parts).reduce((a, b) => a + b, 0);
  return { total, parts, largest };
}

/** A run the device cannot hold: `limit` names the limit, `requested` the predicted figure. */
export class PlanRefusedError extends GpuLimitError {}

export interface DeviceLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

const fmt = (n: number) => `${n.toLocaleString('en-US')} bytes`;

/**
 * Refuse a plan that cannot fit: a single buffer above the device's buffer or
 * binding limit, or a predicted peak above `budget` (bytes the caller allows,
 * e.g. a fraction of the adapter's memory). Returns the plan when it fits.
 */
export function checkPlanFits<P extends StepPlan>(plan: P, limits: DeviceLimits, budget?: number, what = 'this training run'): P {
  const binding = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  const limit = limits.maxStorageBufferBindingSize <= limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
  if (plan.largest.bytes > binding)
    throw new PlanRefusedError(
      `${what} cannot run on this GPU: its largest buffer (${plan.largest.name}) needs ${fmt(plan.largest.bytes)}, over the device's ${limit} of ${fmt(binding)}; use a shorter sequence, a smaller batch or loss chunk`,
      limit,
      plan.largest.bytes,
      binding,
    );
  if (budget !== undefined && plan.total > budget)
    throw new PlanRefusedError(
      `${what} cannot run on this GPU: its predicted peak is ${fmt(plan.total)}, over the memory budget of ${fmt(budget)}; use a shorter sequence, a smaller batch, LoRA of lower rank or activation recomputation`,
      'memory budget',
      plan.total,
      budget,
    );
  return plan;
}
