// llama-quantize's per-tensor type choice, ported from llama.cpp
// src/llama-quant.cpp (the judge's copy): llama_ftype_get_default_type,
// tensor_allows_quantization, tensor_get_category, llama_tensor_get_type /
// llama_tensor_get_type_impl (with the quantize_state_impl counters),
// tensor_type_fallback and tensor_requires_imatrix; file type numbers from
// include/llama.h (LLAMA_FTYPE_*: the names and defaults live in ftype_names.ts,
// re-exported here). See docs formats-2 §1.5.
//
// Two modes:
//  - a file type (Q4_K_M, IQ2_M, Q4_0, …): llama-quantize's mix, including the
//    n_gqa / layer-position rules, the output / token_embd rules and the shape
//    fallbacks;
//  - pure (`--pure`, or a name that is only a ggml type such as Q4_K): one ggml
//    type for every quantizable tensor (llama_tensor_get_type with
//    params->pure: the _impl rules are skipped, the shape fallback still applies).
//
// Not ported (sub4 has no way to ask for them): --tensor-type overrides,
// --token-embedding-type / --output-tensor-type, --leave-output-tensor,
// pruning, and the Q1_0 / Q2_0 file types (no quantizer in sub4).
import { GgmlType, ggmlTypeInfo } from '../../quant/formats.ts';
import type { FileTypeName, TypeChoice } from './ftype_names.ts';

export { FILE_TYPE_NAMES, LLAMA_FTYPE, PURE_TYPE_NAMES, ftypeDefaultType, isFileTypeName, isPureTypeName, resolveTypeChoice } from './ftype_names.ts';
export type { FileTypeName, PureTypeName, TypeChoice } from './ftype_names.ts';

/** Model facts llama-quantize reads from hparams. */
export interface MixModel {
  /** general.architecture (only 'falcon' and the 70B llama rule change anything). */
  arch: string;
  /** hparams.n_layer_all: n_ffn_down = n_ffn_gate = n_ffn_up. */
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  /** hparams.n_expert (0 for dense models). */
  nExpert?: number;
}

export interface MixTensor {
  name: string;
  /** ggml dims, ne[0] = row length. */
  ne: readonly number[];
}

const QUANTIZED_FLOAT = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16]);
/** ggml_is_quantized, for the types used here. */
function isQuantized(t: GgmlType): boolean {
  return !QUANTIZED_FLOAT.has(t);
}
function blck(t: GgmlType): number {
  const info = ggmlTypeInfo(t);
  if (!info) throw new RangeError(`ftype_mix: unknown ggml type ${t}`);
  return info.blockSize;
}
/** ggml_n_dims: trailing dims of 1 do not count. */
function nDims(ne: readonly number[]): number {
  let n = ne.length;
  while (n > 1 && ne[n - 1] === 1) n--;
  return n;
}

const NOT_QUANTIZED_SUBSTRINGS = [
  '_norm.weight',
  'ffn_gate_inp.weight',
  'ffn_gate_tid2eid.weight',
  'altup',
  'laurel',
  'per_layer_model_proj',
  'ssm_conv1d',
  'shortconv.conv.weight',
  'indexer.k_proj.weight',
  'indexer.q_proj.weight',
  ...['first', 'w0', 'w1', 'w2', 'v0', 'v1', 'v2', 'a0', 'a1', 'a2', 'g1', 'g2', 'decay_w1', 'decay_w2', 'lerp_fused'].map((s) => `time_mix_${s}.weight`),
  'attn_rel_b.weight',
  '.position_embd',
  'sam.pos_embd',
  'sam.neck.',
  'sam.net_',
  '.rel_pos',
  '.patch_embd',
  '.patch_merger',
  'a.rvq.codebook',
  'mm.a.code_embd',
];

/** tensor_allows_quantization (quantize_output_tensor on, no only_copy). */
export function tensorAllowsQuantization(name: string, ne: readonly number[]): boolean {
  if (nDims(ne) < 2) return false;
  if (!name.endsWith('weight')) return false;
  if (NOT_QUANTIZED_SUBSTRINGS.some((s) => name.includes(s))) return false;
  // LLM_TN(arch)(LLM_TENSOR_POS_EMBD / LLM_TENSOR_TOKEN_TYPES, "weight")
  return name !== 'position_embd.weight' && name !== 'token_types.weight';
}

type Category = 'output' | 'token_embd' | 'attn_qkv' | 'attn_kv_b' | 'attn_v' | 'attn_k' | 'attn_q' | 'attn_output' | 'ffn_up' | 'ffn_gate' | 'ffn_down' | 'other';

/** tensor_get_category. */
function category(name: string): Category {
  if (name === 'output.weight') return 'output';
  if (name === 'token_embd.weight' || name === 'per_layer_token_embd.weight') return 'token_embd';
  if (name.includes('attn_qkv.weight')) return 'attn_qkv';
  if (name.includes('attn_kv_b.weight')) return 'attn_kv_b';
  if (name.includes('attn_v.weight')) return 'attn_v';
  if (name.includes('attn_k.weight')) return 'attn_k';
  if (name.includes('attn_q.weight')) return 'attn_q';
  if (name.includes('attn_output.weight')) return 'attn_output';
  if (name.includes('ffn_up')) return 'ffn_up';
  if (name.includes('ffn_gate')) return 'ffn_gate';
  if (name.includes('ffn_down')) return 'ffn_down';
  return 'other';
}
const isAttnV = (c: Category) => c === 'attn_v' || c === 'attn_qkv' || c === 'attn_kv_b';

/** tensor_type_fallback: a row length the type's block does not divide. */
export function tensorTypeFallback(ne0: number, t: GgmlType): GgmlType {
  const qk = blck(t);
  if (ne0 % qk === 0) return t;
  let r: GgmlType;
  switch (t) {
    case GgmlType.IQ1_S:
    case GgmlType.IQ1_M:
    case GgmlType.IQ2_XXS:
    case GgmlType.IQ2_XS:
    case GgmlType.IQ2_S:
    case GgmlType.IQ3_XXS:
    case GgmlType.IQ3_S:
    case GgmlType.IQ4_XS:
      r = GgmlType.IQ4_NL;
      break;
    case GgmlType.Q2_K:
    case GgmlType.Q3_K:
    case GgmlType.TQ1_0:
    case GgmlType.TQ2_0:
      r = GgmlType.Q4_0;
      break;
    case GgmlType.Q4_K:
      r = GgmlType.Q5_0;
      break;
    case GgmlType.Q5_K:
      r = GgmlType.Q5_1;
      break;
    case GgmlType.Q6_K:
      r = GgmlType.Q8_0;
      break;
    default:
      if (qk <= 32) {
        r = t;
        break;
      }
      throw new RangeError(`no tensor type fallback is defined for type ${GgmlType[t]}`);
  }
  return ne0 % blck(r) !== 0 ? GgmlType.F16 : r;
}

/** tensor_requires_imatrix. */
export function tensorRequiresImatrix(name: string, type: GgmlType, ftype: FileTypeName): boolean {
  if (category(name) === 'token_embd' || name === 'output.weight') return false;
  switch (type) {
    case GgmlType.IQ3_XXS:
    case GgmlType.IQ2_XXS:
    case GgmlType.IQ2_XS:
    case GgmlType.IQ2_S:
    case GgmlType.IQ1_M:
    case GgmlType.IQ1_S:
      return true;
    case GgmlType.Q2_K:
      return ftype === 'Q2_K_S';
    default:
      return false;
  }
}

export interface MixOptions {
  /** An imatrix was given (qs.has_imatrix): changes a few IQ3_XXS / IQ4_* / Q4_0 / Q5_0 rules. */
  hasImatrix?: boolean;
}

/**
 * The ggml type of every tensor, in the order given (llama-quantize walks the tensors
 * in weight_name_comparer order — blocks by number, names sorted within — and its
 * counters i_attention_wv / i_ffn_* depend on that order). A tensor that may not be
 * quantized gets null: the caller keeps its stored type (llama-quantize copies it).
 */
export function planTensorTypes(tensors: readonly MixTensor[], choice: TypeChoice, model: MixModel, opts: MixOptions = {}): (GgmlType | null)[] {
  const { ftype, pure } = choice;
  const hasImatrix = opts.hasImatrix ?? false;
  const nExpertRaw = model.nExpert ?? 0;
  const nExpert = Math.max(1, nExpertRaw);
  const nGqa = model.nHeadKv === 0 ? 0 : Math.trunc(model.nHead / model.nHeadKv); // hparams.n_gqa()
  const arch = model.arch;
  const falcon = arch === 'falcon';
  // llama-model.cpp: LLM_ARCH_LLAMA with 80 layers and n_head != n_head_kv is LLM_TYPE_70B.
  const is70B = arch === 'llama' && model.nLayer === 80 && model.nHead !== model.nHeadKv;
  // init_quantize_state_counters
  const qs = {
    nAttentionWv: tensors.filter((t) => isAttnV(category(t.name))).length,
    nFfn: model.nLayer,
    iAttentionWv: 0,
    iFfnDown: 0,
    iFfnGate: 0,
    iFfnUp: 0,
    tied: !tensors.some((t) => t.name === 'output.weight'),
  };
  const div = (a: number, b: number) => Math.trunc(a / b);
  const useMoreBits = (i: number, n: number) => i < div(n, 8) || i >= div(7 * n, 8) || (i - div(n, 8)) % 3 === 2;
  const layerInfo = (i: number, name: string): [number, number] => {
    if (nExpert > 1) {
      const m = /^blk\.(-?\d+)\./.exec(name);
      if (!m) throw new RangeError(`Failed to determine layer for tensor ${name}`);
      const l = Number(m[1]);
      if (l < 0 || l >= qs.nFfn) throw new RangeError(`Bad layer ${l} for tensor ${name}. Must be in [0, ${qs.nFfn})`);
      return [l, qs.nFfn];
    }
    return [i, qs.nFfn];
  };
  const IQ2ISH = ftype === 'IQ2_XXS' || ftype === 'IQ2_XS' || ftype === 'IQ1_S' || ftype === 'IQ2_S' || ftype === 'IQ2_M' || ftype === 'IQ1_M';
  const IQ2S_M = ftype === 'IQ2_S' || ftype === 'IQ2_M';

  // llama_tensor_get_type_impl
  const impl = (t: GgmlType, tensor: MixTensor, cat: Category): GgmlType => {
    const name = tensor.name;
    if (cat === 'output' || (qs.tied && cat === 'token_embd')) {
      const nx = tensor.ne[0];
      if (ftype === 'MXFP4_MOE') t = GgmlType.Q8_0;
      else if (falcon || nx % blck(t) !== 0) t = GgmlType.Q8_0;
      else if (ftype === 'IQ2_XXS' || ftype === 'IQ2_XS' || ftype === 'IQ3_XXS' || ftype === 'IQ1_S' || ftype === 'IQ2_S' || ftype === 'IQ2_M' || ftype === 'IQ1_M')
        t = GgmlType.Q5_K;
      else if (t !== GgmlType.Q8_0) t = GgmlType.Q6_K;
    } else if (ftype === 'MXFP4_MOE') {
      // llama.cpp also restricts BailingMoE3's 3-D tensors to the expert FFNs; sub4 loads no such arch.
      t = (tensor.ne[2] ?? 1) > 1 ? GgmlType.MXFP4 : GgmlType.Q8_0;
    } else if (cat === 'token_embd') {
      if (ftype === 'IQ2_XXS' || ftype === 'IQ2_XS' || ftype === 'IQ1_S' || ftype === 'IQ1_M') t = GgmlType.Q2_K;
      else if (IQ2S_M) t = GgmlType.IQ3_S;
      else if (ftype === 'IQ3_XXS') t = GgmlType.IQ3_S;
      else if (ftype === 'TQ1_0' || ftype === 'TQ2_0') t = GgmlType.Q4_K;
    } else if (IQ2ISH) {
      if (isAttnV(cat)) {
        if (nGqa >= 4 || nExpertRaw >= 4) t = GgmlType.Q4_K;
        else t = IQ2S_M ? GgmlType.IQ3_S : GgmlType.Q2_K;
        ++qs.iAttentionWv;
      } else if (nExpertRaw === 8 && cat === 'attn_k') {
        t = GgmlType.Q4_K;
      } else if (cat === 'ffn_down') {
        if (qs.iFfnDown < div(qs.nFfn, 8)) t = IQ2S_M ? GgmlType.IQ3_S : GgmlType.Q2_K;
        ++qs.iFfnDown;
      } else if (cat === 'attn_output') {
        if (nExpertRaw === 8) t = GgmlType.Q5_K;
        else if (ftype === 'IQ1_S' || ftype === 'IQ1_M') t = GgmlType.IQ2_XXS;
        else if (IQ2S_M) t = GgmlType.IQ3_S;
      }
    } else if (isAttnV(cat)) {
      if (ftype === 'Q2_K') t = nGqa >= 4 ? GgmlType.Q4_K : GgmlType.Q3_K;
      else if (ftype === 'Q2_K_S' && nGqa >= 4) t = GgmlType.Q4_K;
      else if (ftype === 'IQ3_XXS') t = nGqa >= 4 ? GgmlType.Q4_K : !hasImatrix ? GgmlType.IQ3_S : GgmlType.IQ3_XXS;
      else if ((ftype === 'IQ3_XS' || ftype === 'IQ3_S') && nGqa >= 4) t = GgmlType.Q4_K;
      else if (ftype === 'IQ3_M') t = GgmlType.Q4_K;
      else if (ftype === 'Q3_K_M') t = qs.iAttentionWv < 2 ? GgmlType.Q5_K : GgmlType.Q4_K;
      else if (ftype === 'Q3_K_L') t = GgmlType.Q5_K;
      else if ((ftype === 'IQ4_NL' || ftype === 'IQ4_XS') && nGqa >= 4) t = GgmlType.Q5_K;
      else if ((ftype === 'Q4_K_M' || ftype === 'Q5_K_M') && useMoreBits(qs.iAttentionWv, qs.nAttentionWv)) t = GgmlType.Q6_K;
      else if (ftype === 'Q4_K_S' && qs.iAttentionWv < 4) t = GgmlType.Q5_K;
      if (is70B && (t === GgmlType.Q3_K || t === GgmlType.Q4_K)) t = GgmlType.Q5_K;
      if (nExpertRaw === 8) t = GgmlType.Q8_0;
      ++qs.iAttentionWv;
    } else if (cat === 'attn_k') {
      if (nExpertRaw === 8) t = GgmlType.Q8_0;
      else if (ftype === 'IQ3_XS') t = GgmlType.IQ3_XXS;
      else if (ftype === 'IQ3_XXS') t = GgmlType.IQ2_S;
    } else if (cat === 'attn_q') {
      if (ftype === 'IQ3_XS') t = GgmlType.IQ3_XXS;
      else if (ftype === 'IQ3_XXS') t = GgmlType.IQ2_S;
    } else if (cat === 'ffn_down') {
      const [i, n] = layerInfo(qs.iFfnDown, name);
      if (ftype === 'Q2_K') t = GgmlType.Q3_K;
      else if (ftype === 'Q2_K_S') {
        if (i < div(n, 8)) t = GgmlType.Q4_K;
      } else if (ftype === 'IQ3_XXS' && !hasImatrix) t = i < div(n, 8) ? GgmlType.Q4_K : GgmlType.Q3_K;
      else if (ftype === 'Q3_K_M') t = i < div(n, 16) ? GgmlType.Q5_K : !falcon || useMoreBits(i, n) ? GgmlType.Q4_K : GgmlType.Q3_K;
      else if (ftype === 'IQ3_M' && (i < div(n, 8) || (nExpertRaw === 8 && useMoreBits(i, n)))) t = GgmlType.Q4_K;
      else if (ftype === 'Q3_K_L') t = falcon ? GgmlType.Q4_K : GgmlType.Q5_K;
      else if (ftype === 'Q4_K_M') {
        if (falcon) t = i < div(n, 16) ? GgmlType.Q6_K : useMoreBits(i, n) ? GgmlType.Q5_K : GgmlType.Q4_K;
        else if (useMoreBits(i, n)) t = GgmlType.Q6_K;
      } else if (i < div(n, 8) && (ftype === 'IQ4_NL' || ftype === 'IQ4_XS') && !hasImatrix) t = GgmlType.Q5_K;
      else if (ftype === 'Q5_K_M' && useMoreBits(i, n)) t = GgmlType.Q6_K;
      else if (ftype === 'Q4_K_S' && !falcon && i < div(n, 8)) t = GgmlType.Q5_K;
      else if ((ftype === 'Q4_0' || ftype === 'Q5_0') && hasImatrix && i < div(n, 8)) t = ftype === 'Q4_0' ? GgmlType.Q4_1 : GgmlType.Q5_1;
      ++qs.iFfnDown;
    } else if (cat === 'attn_output') {
      if (!falcon) {
        if (nExpertRaw === 8) {
          if (['Q2_K', 'IQ3_XS', 'IQ3_XXS', 'Q3_K_S', 'Q3_K_M', 'IQ4_NL', 'Q4_K_S', 'Q4_K_M', 'IQ3_S', 'IQ3_M', 'IQ4_XS'].includes(ftype)) t = GgmlType.Q5_K;
        } else {
          if (ftype === 'Q2_K') t = GgmlType.Q3_K;
          else if (ftype === 'IQ3_XXS') t = GgmlType.IQ3_S;
          else if (ftype === 'Q3_K_M') t = GgmlType.Q4_K;
          else if (ftype === 'Q3_K_L') t = GgmlType.Q5_K;
          else if (ftype === 'IQ3_M') t = GgmlType.Q4_K;
        }
      } else if (ftype === 'Q3_K_L') t = GgmlType.Q4_K;
    }
    // llama.cpp's ATTENTION_QKV branch (Q3_K_M/L, IQ3_M → Q4_K; Q4_K_M → Q5_K; Q5_K_M → Q6_K) comes after the
    // attn_v-like branch, which already takes attn_qkv, so it never runs: not ported.
    else if (cat === 'ffn_gate') {
      const [i, n] = layerInfo(qs.iFfnGate, name);
      if (ftype === 'IQ3_XS' && i >= div(n, 8) && i < div(7 * n, 8)) t = GgmlType.IQ3_XXS;
      ++qs.iFfnGate;
    } else if (cat === 'ffn_up') {
      const [i, n] = layerInfo(qs.iFfnUp, name);
      if (ftype === 'IQ3_XS' && i >= div(n, 8) && i < div(7 * n, 8)) t = GgmlType.IQ3_XXS;
      ++qs.iFfnUp;
    }
    return t;
  };

  // llama_tensor_get_type
  return tensors.map((tensor) => {
    if (!tensorAllowsQuantization(tensor.name, tensor.ne)) return null;
    let t = choice.defaultType;
    if (isQuantized(t)) {
      if (!pure) t = impl(t, tensor, category(tensor.name));
      t = tensorTypeFallback(tensor.ne[0], t);
    }
    return t;
  });
}
