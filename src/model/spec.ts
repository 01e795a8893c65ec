// The one table of a Llama-family model (Llama, Mistral, Qwen2; tied or untied
// LM head): every parameter and every activation of the forward pass, with its
// name, shape (from the LlamaConfig) and layer. The weight loader, the forward
// pass, the KV cache and (later) the backward all derive sizes from here, so no
// shape or byte count is maintained by hand anywhere else.
//
// Activations are planned into slots: with `save` (training: the backward
// needs them), each entry marked `saved` gets a slot per layer; everything else
// (and everything when not saving) shares one slot per name across layers,
// because layer l's scratch is dead once layer l + 1 starts. With save =
// 'inputs' (activation recomputation) only each layer's input x and the
// global entries are kept; the backward re-runs a layer's forward from its x.
import type { LlamaConfig } from './config.ts';

/** The seven linear layers of a block, in the order the forward uses them. */
export const LINEAR_ROLES = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
export type LinearRole = (typeof LINEAR_ROLES)[number];

export type ParamKind = 'embedding' | 'norm' | 'linear' | 'bias' | 'rope_freqs';

export interface ParamEntry {
  /** Engine (HF) tensor name as LoadedModel.tensors has it. */
  name: string;
  kind: ParamKind;
  /** Linear role (weights and their biases); null for norms and global tensors. */
  role: LinearRole | 'attn_norm' | 'mlp_norm' | 'embed' | 'final_norm' | 'lm_head' | 'rope_freqs';
  layer: number | null;
  /** [out, in] for linear weights, [n] for vectors, [V, C] for the embedding. */
  shape: number[];
}

/** HF suffix, shape and bias flag of each linear role. */
function linearTable(c: LlamaConfig): Record<LinearRole, { suffix: string; shape: [number, number]; bias: boolean }> {
  const C = c.hiddenSize, F = c.intermediateSize, QD = c.numHeads * c.headDim, KD = c.numKvHeads * c.headDim;
  return {
    q: { suffix: 'self_attn.q_proj', shape: [QD, C], bias: c.qkvBias },
    k: { suffix: 'self_attn.k_proj', shape: [KD, C], bias: c.qkvBias },
    v: { suffix: 'self_attn.v_proj', shape: [KD, C], bias: c.qkvBias },
    o: { suffix: 'self_attn.o_proj', shape: [C, QD], bias: c.oBias },
    gate: { suffix: 'mlp.gate_proj', shape: [F, C], bias: c.mlpBias },
    up: { suffix: 'mlp.up_proj', shape: [F, C], bias: c.mlpBias },
    down: { suffix: 'mlp.down_proj', shape: [C, F], bias: c.mlpBias },
  };
}

/** Every parameter tensor the forward reads, global ones first, then layer by layer. */
export function paramSpec(c: LlamaConfig): ParamEntry[] {
  const C = c.hiddenSize;
  const out: ParamEntry[] = [
    { name: 'model.embed_tokens.weight', kind: 'embedding', role: 'embed', layer: null, shape: [c.vocabSize, C] },
    { name: 'model.norm.weight', kind: 'norm', role: 'final_norm', layer: null, shape: [C] },
  ];
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', kind: 'linear', role: 'lm_head', layer: null, shape: [c.vocabSize, C] });
  if (c.ropeScaling.type === 'freq_factors') out.push({ name: 'rope_freqs.weight', kind: 'rope_freqs', role: 'rope_freqs', layer: null, shape: [c.headDim / 2] });
  const lin = linearTable(c);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const linear = (role: LinearRole) => {
      const t = lin[role];
      out.push({ name: `${p}${t.suffix}.weight`, kind: 'linear', role, layer: l, shape: [...t.shape] });
      if (t.bias) out.push({ name: `${p}${t.suffix}.bias`, kind: 'bias', role, layer: l, shape: [t.shape[0]] });
    };
    out.push({ name: `${p}input_layernorm.weight`, kind: 'norm', role: 'attn_norm', layer: l, shape: [C] });
    for (const r of ['q', 'k', 'v', 'o'] as const) linear(r);
    out.push({ name: `${p}post_attention_layernorm.weight`, kind: 'norm', role: 'mlp_norm', layer: l, shape: [C] });
    for (const r of ['gate', 'up', 'down'] as const) linear(r);
  }
  return out;
}

export type ActName =
  | 'ids' | 'positions' | 'x' | 'xn1' | 'rstd1' | 'q' | 'k' | 'v' | 'attn' | 'lse' | 'attn_out'
  | 'x_mid' | 'xn2' | 'rstd2' | 'gate' | 'up' | 'h' | 'mlp_out' | 'x_out' | 'hidden' | 'rstd_f';

export interface ActEntry {
  name: ActName;
  layer: number | null;
  shape: number[];
  dtype: 'f32' | 'u32';
  /** Needed by a backward pass (kept per layer when saving). */
  saved: boolean;
  /** Slot name shared when not kept per layer (x_out shares the residual stream's slot). */
  share: ActName;
}

/**
 * Activations of one forward over N = B·T tokens, in forward order. Shapes are
 * the producers' ([N, ·] rows for linear layers, [B, T, H] for the attention
 * lse); consumers view the same buffer under their shapes (src/model/view.ts).
 * Residual stream: layer l reads x (layer l) and writes its output into x of
 * layer l + 1, or x_out after the last layer.
 */
export function activationSpec(c: LlamaConfig, B: number, T: number): ActEntry[] {
  if (!Number.isInteger(B) || !Number.isInteger(T) || B < 1 || T < 1) throw new RangeError(`activations: batch B = ${B}, T = ${T} must be positive integers`);
  const N = B * T, C = c.hiddenSize, F = c.intermediateSize, QD = c.numHeads * c.headDim, KD = c.numKvHeads * c.headDim;
  const e = (name: ActName, layer: number | null, shape: number[], saved: boolean, dtype: 'f32' | 'u32' = 'f32', share: ActName = name): ActEntry => ({ name, layer, shape, dtype, saved, share });
  const out: ActEntry[] = [e('ids', null, [N], true, 'u32'), e('positions', null, [N], true, 'u32')];
  for (let l = 0; l < c.numLayers; l++)
    out.push(
      e('x', l, [N, C], true), // RMSNorm backward input
      e('xn1', l, [N, C], true), // q/k/v input (their weight / LoRA gradients)
      e('rstd1', l, [N], true),
      e('q', l, [N, QD], true), // after RoPE, as attention saw them
      e('k', l, [N, KD], true),
      e('v', l, [N, KD], true),
      e('attn', l, [N, QD], true), // attention output o: attention backward and o_proj input
      e('lse', l, [B, T, c.numHeads], true),
      e('attn_out', l, [N, C], false),
      e('x_mid', l, [N, C], true),
      e('xn2', l, [N, C], true),
      e('rstd2', l, [N], true),
      e('gate', l, [N, F], true),
      e('up', l, [N, F], true),
      e('h', l, [N, F], true), // down_proj input
      e('mlp_out', l, [N, C], false),
    );
  out.push(e('x_out', null, [N, C], true, 'f32', 'x'), e('hidden', null, [N, C], true), e('rstd_f', null, [N], true));
  return out;
}

export interface ActSlot {
  key: string;
  shape: number[];
  dtype: 'f32' | 'u32';
  bytes: number;
  /** Byte offset of the slot if every slot were laid end to end (one arena); totals and planners use it. */
  offset: number;
}

/** false: inference; true: keep every saved activation per layer; 'inputs': keep layer inputs only (recomputation). */
export type SaveMode = boolean | 'inputs';

export interface ActivationPlan {
  B: number;
  T: number;
  save: SaveMode;
  entries: (ActEntry & { slot: number })[];
  slots: ActSlot[];
  /** Bytes of all slots. */
  bytes: number;
}

const bytesOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1) * 4;

/** Whether an entry keeps its own slot under a save mode. */
function keeps(a: ActEntry, save: SaveMode): boolean {
  return save === true ? a.saved : save === 'inputs' ? a.saved && (a.layer === null || a.name === 'x') : false;
}

/** Assign slots: per layer for the entries the save mode keeps, else one slot per shared name. */
export function planActivations(c: LlamaConfig, B: number, T: number, save: SaveMode): ActivationPlan {
  const slots: ActSlot[] = [];
  const index = new Map<string, number>();
  let offset = 0;
  const entries = activationSpec(c, B, T).map((a) => {
    const key = keeps(a, save) ? `${a.name}@${a.layer ?? 'g'}` : a.share;
    let slot = index.get(key);
    if (slot === undefined) {
      const bytes = Math.max(4, bytesOf(a.shape));
      slot = slots.push({ key, shape: [...a.shape], dtype: a.dtype, bytes, offset }) - 1;
      offset += bytes;
      index.set(key, slot);
    } else if (slots[slot].bytes !== Math.max(4, bytesOf(a.shape))) throw new Error(`activation plan: ${a.name} does not fit slot ${key}`);
    return { ...a, slot };
  });
  return { B, T, save, entries, slots, bytes: offset };
}
