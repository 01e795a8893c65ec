// Tensor names HF ↔ GGUF for the Llama family, and the q/k row permutation
// between the two rotary layouts.
//
// ENGINE LAYOUT DECISION: sub4 keeps q_proj / k_proj rows in the HF
// "half-split" (rotate_half) layout, where dimension i of a head pairs with
// i + D/2. GGUF files of architecture "llama" store them interleaved (i pairs
// with i+1; llama.cpp LLAMA_ROPE_TYPE_NORM), so the loader applies unpermuteQK
// to attn_q / attn_k rows and the GGUF exporter applies permuteQK. Why this way:
//  - three of the four export targets (PEFT LoRA, GPTQ, HF safetensors) and the
//    HF input are half-split; only GGUF needs a permutation, at its two edges;
//  - Qwen2 GGUFs are already half-split (llama.cpp uses NEOX rope for qwen2 and
//    its converter does not permute), so they load with no permutation at all;
//  - the permutation moves whole rows (output features) and quant blocks run
//    along a row, so quantized GGUF blocks, their scales and tuned scales move
//    intact: load → tune → export is lossless in either direction;
//  - for a LoRA on q/k, only B (out × r) has output rows, so exporting a llama.cpp
//    LoRA permutes B's rows and leaves A alone.
// The RoPE kernel therefore rotates pairs (i, i + D/2) within each head.
import { FAMILIES, type LlamaArchitecture } from './families.ts';

export const ENGINE_ROPE_LAYOUT = 'half_split' as const;

/** True when a GGUF of this architecture stores q/k rows interleaved (needs unpermuteQK on load). */
export function ggufQkInterleaved(arch: LlamaArchitecture): boolean {
  return FAMILIES[arch].ggufQkInterleaved;
}

// One table: [HF name, GGUF name], without the trailing .weight / .bias.
const GLOBAL_NAMES: readonly [string, string][] = [
  ['model.embed_tokens', 'token_embd'],
  ['model.norm', 'output_norm'],
  ['lm_head', 'output'],
];
const LAYER_NAMES: readonly [string, string][] = [
  ['input_layernorm', 'attn_norm'],
  ['self_attn.q_proj', 'attn_q'],
  ['self_attn.k_proj', 'attn_k'],
  ['self_attn.v_proj', 'attn_v'],
  ['self_attn.o_proj', 'attn_output'],
  // Qwen3 per-head q/k norms: [head_dim] vectors, no rows to permute.
  ['self_attn.q_norm', 'attn_q_norm'],
  ['self_attn.k_norm', 'attn_k_norm'],
  ['post_attention_layernorm', 'ffn_norm'],
  ['mlp.gate_proj', 'ffn_gate'],
  ['mlp.up_proj', 'ffn_up'],
  ['mlp.down_proj', 'ffn_down'],
];

const HF_LAYER = /^model\.layers\.(0|[1-9]\d*)\.(.+)\.(weight|bias)$/;
const GGUF_LAYER = /^blk\.(0|[1-9]\d*)\.(.+)\.(weight|bias)$/;
const GLOBAL = /^(.+)\.(weight|bias)$/;

function translate(name: string, layerRe: RegExp, from: 0 | 1, layerPrefix: string, arch: LlamaArchitecture): string | null {
  const to = (1 - from) as 0 | 1;
  const m = layerRe.exec(name);
  if (m) {
    // The family's own rows first: Gemma 3's post_attention_layernorm is an output norm, not the MLP's input norm.
    const row = FAMILIES[arch].ggufLayerNames.find((r) => r[from] === m[2]) ?? LAYER_NAMES.find((r) => r[from] === m[2]);
    return row ? `${layerPrefix}${m[1]}.${row[to]}.${m[3]}` : null;
  }
  const g = GLOBAL.exec(name);
  const row = g && GLOBAL_NAMES.find((r) => r[from] === g[1]);
  return row ? `${row[to]}.${g![2]}` : null;
}

/** HF name → GGUF name in a family's naming (default the Llama table), or null for a tensor with no GGUF counterpart (e.g. rotary_emb.inv_freq). */
export function hfToGguf(name: string, arch: LlamaArchitecture = 'llama'): string | null {
  return translate(name, HF_LAYER, 0, 'blk.', arch);
}

/** GGUF name → HF name in a family's naming (default the Llama table), or null for a tensor with no HF counterpart (e.g. rope_freqs.weight). */
export function ggufToHf(name: string, arch: LlamaArchitecture = 'llama'): string | null {
  return translate(name, GGUF_LAYER, 1, 'model.layers.', arch);
}

/** Which rotary projection a tensor (weight or bias, either naming) belongs to, if any. */
export function qkKind(name: string): 'q' | 'k' | null {
  const m = HF_LAYER.exec(name) ?? GGUF_LAYER.exec(name);
  if (!m) return null;
  if (m[2] === 'self_attn.q_proj' || m[2] === 'attn_q') return 'q';
  if (m[2] === 'self_attn.k_proj' || m[2] === 'attn_k') return 'k';
  return null;
}

export type QkDirection = 'hf_to_gguf' | 'gguf_to_hf';

/**
 * Source row for each destination row. With head size D and half = D/2 (derived
 * from convert_hf_to_gguf.py `LlamaModel.permute`:
 * w.reshape(n_head, 2, D/2, in).swapaxes(1, 2).reshape(out, in)):
 *   hf_to_gguf: gguf[h·D + 2i + j] = hf[h·D + j·half + i]   (i < half, j ∈ {0,1})
 *   gguf_to_hf: hf[h·D + j·half + i] = gguf[h·D + 2i + j]
 */
export function qkRowOrder(rows: number, nHead: number, dir: QkDirection): Uint32Array {
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(nHead) || nHead <= 0 || rows % nHead !== 0 || (rows / nHead) % 2 !== 0)
    throw new RangeError(`q/k permutation: ${rows} rows do not split into ${nHead} heads of even size`);
  const D = rows / nHead;
  const half = D / 2;
  const order = new Uint32Array(rows);
  for (let h = 0; h < nHead; h++)
    for (let i = 0; i < half; i++)
      for (let j = 0; j < 2; j++) {
        const interleaved = h * D + 2 * i + j;
        const split = h * D + j * half + i;
        if (dir === 'hf_to_gguf') order[interleaved] = split;
        else order[split] = interleaved;
      }
  return order;
}

type RowArray = Float32Array | Uint8Array | Uint16Array | Int32Array;

/** Reorders whole rows of a row-major [rows, rowLen] array: out row r = w row order[r]. Also works on quantized bytes (rowLen = bytes per row). */
export function applyRowOrder<T extends RowArray>(w: T, rowLen: number, order: Uint32Array): T {
  if (w.length !== order.length * rowLen) throw new RangeError(`row permutation: array of ${w.length} is not ${order.length} rows × ${rowLen}`);
  const out = new (w.constructor as new (n: number) => T)(w.length);
  for (let r = 0; r < order.length; r++) out.set(w.subarray(order[r] * rowLen, (order[r] + 1) * rowLen), r * rowLen);
  return out;
}

/** HF half-split q/k rows → GGUF interleaved. w is row-major [rows = nHead·D, cols]; a bias is cols = 1. */
export function permuteQK(w: Float32Array, rows: number, cols: number, nHead: number): Float32Array {
  return applyRowOrder(w, cols, qkRowOrder(rows, nHead, 'hf_to_gguf'));
}

/** GGUF interleaved q/k rows → HF half-split (the inverse of permuteQK). */
export function unpermuteQK(w: Float32Array, rows: number, cols: number, nHead: number): Float32Array {
  return applyRowOrder(w, cols, qkRowOrder(rows, nHead, 'gguf_to_hf'));
}
