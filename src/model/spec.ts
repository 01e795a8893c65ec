// The activation table of a Llama-family model: every activation of the
// forward pass, with its name, shape (from the LlamaConfig) and layer (the
// parameters' table is src/arch/params.ts). The forward pass, the KV cache, the
// backward and the planner derive sizes from here, so no shape or byte count is
// maintained by hand anywhere else.
//
// Activations are planned into slots: with `save` (training: the backward
// needs them), each entry marked `saved` gets a slot per layer; everything else
// (and everything when not saving) shares one slot per name across layers,
// because layer l's scratch is dead once layer l + 1 starts. With save =
// 'inputs' (activation recomputation) only each layer's input x and the
// global entries are kept; the backward re-runs a layer's forward from its x.
import type { LlamaConfig } from '../arch/config.ts';

export type ActName =
  | 'ids' | 'positions' | 'x' | 'xn1' | 'rstd1' | 'q_raw' | 'k_raw' | 'rstd_q' | 'rstd_k' | 'q' | 'k' | 'v' | 'attn' | 'lse' | 'attn_out'
  | 'attn_post' | 'rstd_pa' | 'x_mid' | 'xn2' | 'rstd2' | 'gate' | 'up' | 'h' | 'mlp_out' | 'mlp_post' | 'rstd_pf' | 'x_out' | 'hidden' | 'rstd_f';

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
  const sandwich = c.sandwichNorms === true;
  for (let l = 0; l < c.numLayers; l++) {
    out.push(
      e('x', l, [N, C], true), // RMSNorm backward input
      e('xn1', l, [N, C], true), // q/k/v input (their weight / LoRA gradients)
      e('rstd1', l, [N], true),
    );
    // q/k norms (Qwen3): the projections before the per-head norm, and one rstd per (row, head).
    if (c.qkNorm)
      out.push(e('q_raw', l, [N, QD], true), e('k_raw', l, [N, KD], true), e('rstd_q', l, [N * c.numHeads], true), e('rstd_k', l, [N * c.numKvHeads], true));
    out.push(
      e('q', l, [N, QD], true), // after RoPE, as attention saw them
      e('k', l, [N, KD], true),
      e('v', l, [N, KD], true),
      e('attn', l, [N, QD], true), // attention output o: attention backward and o_proj input
      e('lse', l, [B, T, c.numHeads], true),
      // Sandwich norms (Gemma 3): the branch outputs are norm inputs, so the backward needs them and their rstd.
      e('attn_out', l, [N, C], sandwich),
    );
    if (sandwich) out.push(e('attn_post', l, [N, C], false), e('rstd_pa', l, [N], true));
    out.push(
      e('x_mid', l, [N, C], true),
      e('xn2', l, [N, C], true),
      e('rstd2', l, [N], true),
      e('gate', l, [N, F], true),
      e('up', l, [N, F], true),
      e('h', l, [N, F], true), // down_proj input
      e('mlp_out', l, [N, C], sandwich),
    );
    if (sandwich) out.push(e('mlp_post', l, [N, C], false), e('rstd_pf', l, [N], true));
  }
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
