// The GGUF types sub4 wrote before it had llama-quantize's full type choice, kept
// for callers that name a file's main type (src/export/gguf.ts) and for tests.
// Which ggml type each tensor gets is now ftype_mix.ts (llama-quantize's
// llama_tensor_get_type, which gives these types exactly what the old rules here
// gave: 1-D tensors F32, the head Q6_K or Q8_0, shape fallbacks).
import { LLAMA_FTYPE } from './ftype_mix.ts';

export const CONVERT_TYPES = ['F32', 'F16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1'] as const;
export type ConvertType = (typeof CONVERT_TYPES)[number];

/** llama_ftype values for general.file_type. */
export const FILE_TYPE: Record<ConvertType, number> = Object.fromEntries(CONVERT_TYPES.map((t) => [t, LLAMA_FTYPE[t]])) as Record<ConvertType, number>;

export function isConvertType(s: string): s is ConvertType {
  return (CONVERT_TYPES as readonly string[]).includes(s);
}
