// Which ggml type each tensor gets when sub4 writes a GGUF of a chosen type.
// The rules are llama.cpp's (llama-quantize's llama_tensor_get_type and
// convert_hf_to_gguf.py), so a file sub4 writes matches one llama.cpp would:
//  - 1-D tensors (norms, biases) stay F32;
//  - F32 / F16 targets: every 2-D tensor in that type;
//  - quantized targets: the LM head (or, when the model has none, the token
//    embedding it reuses) gets Q6_K — or Q8_0 for a Q8_0 target, and when its rows
//    are not a multiple of 256;
//  - a row length that is not a multiple of the chosen type's block falls back
//    (Q6_K → Q8_0, then anything → F16), which is what llama.cpp writes for, e.g.,
//    stories260K's ffn_down (172 columns).
import { BLOCK_FORMATS, GgmlType } from '../../quant/formats.ts';

export const CONVERT_TYPES = ['F32', 'F16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1'] as const;
export type ConvertType = (typeof CONVERT_TYPES)[number];

/** llama_ftype values for general.file_type. */
export const FILE_TYPE: Record<ConvertType, number> = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 7, Q5_0: 8, Q5_1: 9 };

const QK_K = 256;

export function isConvertType(s: string): s is ConvertType {
  return (CONVERT_TYPES as readonly string[]).includes(s);
}

/**
 * @param ggufName tensor name in GGUF convention
 * @param ne ggml dims (ne[0] = row length)
 * @param hasOutput whether the model has its own output.weight (otherwise token_embd doubles as the head)
 */
export function tensorTypeFor(target: ConvertType, ggufName: string, ne: readonly number[], hasOutput: boolean): GgmlType {
  if (ne.length < 2 || ne.slice(1).every((d) => d === 1) || ggufName.endsWith('_norm.weight')) return GgmlType.F32;
  let t = GgmlType[target] as unknown as GgmlType;
  if (target === 'F32' || target === 'F16') return t;
  const isHead = ggufName === 'output.weight' || (!hasOutput && ggufName === 'token_embd.weight');
  if (isHead) t = ne[0] % QK_K !== 0 || t === GgmlType.Q8_0 ? GgmlType.Q8_0 : GgmlType.Q6_K;
  if (ne[0] % BLOCK_FORMATS[t as keyof typeof BLOCK_FORMATS].blockSize !== 0) {
    if (t === GgmlType.Q6_K) t = GgmlType.Q8_0;
    if (ne[0] % BLOCK_FORMATS[t as keyof typeof BLOCK_FORMATS].blockSize !== 0) t = GgmlType.F16;
  }
  return t;
}
