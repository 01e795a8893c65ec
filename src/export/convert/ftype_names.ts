// The names `sub4 convert --type` takes: llama-quantize's file types (include/llama.h
// LLAMA_FTYPE_*, their default ggml type: llama_ftype_get_default_type in
// src/llama-quant.cpp) and the ggml types written pure, and how a name resolves
// to a TypeChoice. The per-tensor mix a choice gives is ftype_mix.ts.
import { GgmlType } from '../../quant/formats.ts';

/** LLAMA_FTYPE_* (include/llama.h) for the file types sub4 writes. */
export const LLAMA_FTYPE = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q8_0: 7,
  Q5_0: 8,
  Q5_1: 9,
  Q2_K: 10,
  Q3_K_S: 11,
  Q3_K_M: 12,
  Q3_K_L: 13,
  Q4_K_S: 14,
  Q4_K_M: 15,
  Q5_K_S: 16,
  Q5_K_M: 17,
  Q6_K: 18,
  IQ2_XXS: 19,
  IQ2_XS: 20,
  Q2_K_S: 21,
  IQ3_XS: 22,
  IQ3_XXS: 23,
  IQ1_S: 24,
  IQ4_NL: 25,
  IQ3_S: 26,
  IQ3_M: 27,
  IQ2_S: 28,
  IQ2_M: 29,
  IQ4_XS: 30,
  IQ1_M: 31,
  BF16: 32,
  TQ1_0: 36,
  TQ2_0: 37,
  MXFP4_MOE: 38,
  NVFP4: 39,
} as const;
export type FileTypeName = keyof typeof LLAMA_FTYPE;
export const FILE_TYPE_NAMES = Object.keys(LLAMA_FTYPE) as FileTypeName[];

/** Ggml types `--pure` can write everywhere (ggmlQuantize's types). */
export const PURE_TYPE_NAMES = [
  'F32', 'F16', 'BF16',
  'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0',
  'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K',
  'IQ1_S', 'IQ1_M', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ3_XXS', 'IQ3_S', 'IQ4_NL', 'IQ4_XS',
  'TQ1_0', 'TQ2_0', 'MXFP4', 'NVFP4',
] as const;
export type PureTypeName = (typeof PURE_TYPE_NAMES)[number];

export function isFileTypeName(s: string): s is FileTypeName {
  return Object.hasOwn(LLAMA_FTYPE, s);
}
export function isPureTypeName(s: string): s is PureTypeName {
  return (PURE_TYPE_NAMES as readonly string[]).includes(s);
}

/** llama_ftype_get_default_type. */
export function ftypeDefaultType(ft: FileTypeName): GgmlType {
  switch (ft) {
    case 'Q2_K_S':
    case 'Q2_K':
      return GgmlType.Q2_K;
    case 'IQ3_XS':
      return GgmlType.IQ3_S;
    case 'Q3_K_S':
    case 'Q3_K_M':
    case 'Q3_K_L':
      return GgmlType.Q3_K;
    case 'Q4_K_S':
    case 'Q4_K_M':
      return GgmlType.Q4_K;
    case 'Q5_K_S':
    case 'Q5_K_M':
      return GgmlType.Q5_K;
    case 'IQ2_S':
      return GgmlType.IQ2_XS;
    case 'IQ2_M':
      return GgmlType.IQ2_S;
    case 'IQ3_M':
      return GgmlType.IQ3_S;
    case 'MXFP4_MOE':
      return GgmlType.MXFP4;
    default:
      return GgmlType[ft];
  }
}

/** What sub4 convert was asked for, resolved. */
export interface TypeChoice {
  /** llama-quantize's file type (general.file_type = LLAMA_FTYPE[ftype]). */
  ftype: FileTypeName;
  /** The ggml type every quantizable tensor starts from (llama_ftype_get_default_type, or the pure type). */
  defaultType: GgmlType;
  pure: boolean;
}

/**
 * `--type T [--pure]`: a name that is a file type means the file type (llama-quantize's
 * meaning) unless `pure`; a name that is only a ggml type (Q3_K, Q4_K, Q5_K, MXFP4) means
 * pure. With pure a ggml type name is that type, and general.file_type is the file type
 * of that name, or else the first one (in LLAMA_FTYPE order) whose default type it is;
 * a file type name that is not a ggml type (Q4_K_M) gives its default type everywhere.
 * Returns null for an unknown name.
 */
export function resolveTypeChoice(name: string, pure = false): TypeChoice | null {
  if (!pure && isFileTypeName(name)) return { ftype: name, defaultType: ftypeDefaultType(name), pure: false };
  // `--pure Q4_K_M` (a file type only): llama-quantize's --pure, its default type everywhere.
  if (!isPureTypeName(name)) return isFileTypeName(name) ? { ftype: name, defaultType: ftypeDefaultType(name), pure: true } : null;
  const t = GgmlType[name];
  const ftype = isFileTypeName(name) ? name : FILE_TYPE_NAMES.find((f) => ftypeDefaultType(f) === t);
  if (!ftype) return null;
  return { ftype, defaultType: t, pure: true };
}
