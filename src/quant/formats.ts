// The ggml tensor-type table: one row per ggml type id, holding its block
// geometry and, for the types sub4 supports, the reference dequantizer, where the
// continuous f16 parameters sit in a block (what a scales-only tune may change),
// and the packed sub-block scale codec of the K-quants. Geometry comes from
// gguf-py GGML_QUANT_SIZES / ggml-common.h static_asserts; every known id has a
// row so a GGUF reader can size and bounds-check tensors it cannot decode.
import { UnsupportedError } from '../base/errors.ts';
import { dequantizeBF16, dequantizeF16, dequantizeF32 } from './blocks/float.ts';
import { dequantizeQ2_K, dequantizeQ3_K, dequantizeQ4_K, dequantizeQ5_K, dequantizeQ6_K } from './blocks/kquants.ts';
import { Q2K_SCALES, Q3K_SCALES, Q4K_SCALES, Q5K_SCALES, Q6K_SCALES, type ScaleCodec } from './blocks/kscales.ts';
import { dequantizeQ4_0, dequantizeQ4_1, dequantizeQ5_0, dequantizeQ5_1, dequantizeQ8_0 } from './blocks/legacy.ts';
import { dequantizeIQ1_M, dequantizeIQ1_S, dequantizeIQ2_S, dequantizeIQ2_XS, dequantizeIQ2_XXS, dequantizeIQ3_S, dequantizeIQ3_XXS } from './blocks/iquants.ts';
import { dequantizeIQ4_NL, dequantizeIQ4_XS } from './blocks/iq4.ts';
import { dequantizeMXFP4, dequantizeNVFP4, dequantizeTQ1_0, dequantizeTQ2_0 } from './blocks/fp4_ternary.ts';

export type { ScaleCodec } from './blocks/kscales.ts';

/** ggml_type ids as stored in GGUF tensor infos (ids 4, 5, 31–33, 36–38 were removed upstream). */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
  NVFP4 = 40,
  Q1_0 = 41,
}

/** Byte offsets, inside one block, of the f16 parameters that are continuous (not integer codes). */
export interface F16Fields {
  d: number;
  /** Q4_1 / Q5_1 additive minimum. */
  m?: number;
  /** K-quant super-block scale of the mins. */
  dmin?: number;
}

export interface GgmlTypeInfo {
  type: GgmlType;
  name: string;
  /** Elements per block (1 for plain float/int types). */
  blockSize: number;
  bytesPerBlock: number;
}

/** A supported type: geometry plus the reference decoder. */
export interface BlockFormat extends GgmlTypeInfo {
  /** Decode nBlocks consecutive blocks from src[0..] into out[0 .. nBlocks·blockSize). */
  dequantize(src: Uint8Array, out: Float32Array, nBlocks: number): void;
  /** Quantized types: where d (and m / dmin) live in a block. */
  f16Fields?: F16Fields;
  /** K-quants: the packed sub-block scales (decode and re-encode). */
  scales?: ScaleCodec;
  /** K-quants: ggml's named decoder of the packed scales (same as scales.decode). */
  decodeScales?: ScaleCodec['decode'];
}

type Row = GgmlTypeInfo & Partial<Omit<BlockFormat, keyof GgmlTypeInfo>>;

function row(type: GgmlType, blockSize: number, bytesPerBlock: number, extra: Partial<BlockFormat> = {}): Row {
  const r: Row = { type, name: GgmlType[type], blockSize, bytesPerBlock, ...extra };
  if (r.scales) r.decodeScales = r.scales.decode;
  return r;
}

const QK_K = 256;

/** THE table. */
const ROWS: readonly Row[] = [
  row(GgmlType.F32, 1, 4, { dequantize: dequantizeF32 }),
  row(GgmlType.F16, 1, 2, { dequantize: dequantizeF16 }),
  row(GgmlType.BF16, 1, 2, { dequantize: dequantizeBF16 }),
  row(GgmlType.Q4_0, 32, 18, { dequantize: dequantizeQ4_0, f16Fields: { d: 0 } }),
  row(GgmlType.Q4_1, 32, 20, { dequantize: dequantizeQ4_1, f16Fields: { d: 0, m: 2 } }),
  row(GgmlType.Q5_0, 32, 22, { dequantize: dequantizeQ5_0, f16Fields: { d: 0 } }),
  row(GgmlType.Q5_1, 32, 24, { dequantize: dequantizeQ5_1, f16Fields: { d: 0, m: 2 } }),
  row(GgmlType.Q8_0, 32, 34, { dequantize: dequantizeQ8_0, f16Fields: { d: 0 } }),
  row(GgmlType.Q2_K, QK_K, 84, { dequantize: dequantizeQ2_K, f16Fields: { d: 80, dmin: 82 }, scales: Q2K_SCALES }),
  row(GgmlType.Q3_K, QK_K, 110, { dequantize: dequantizeQ3_K, f16Fields: { d: 108 }, scales: Q3K_SCALES }),
  row(GgmlType.Q4_K, QK_K, 144, { dequantize: dequantizeQ4_K, f16Fields: { d: 0, dmin: 2 }, scales: Q4K_SCALES }),
  row(GgmlType.Q5_K, QK_K, 176, { dequantize: dequantizeQ5_K, f16Fields: { d: 0, dmin: 2 }, scales: Q5K_SCALES }),
  row(GgmlType.Q6_K, QK_K, 210, { dequantize: dequantizeQ6_K, f16Fields: { d: 208 }, scales: Q6K_SCALES }),
  // Known and sized; of these, sub4 decodes the codebook types (i-quants, IQ4/FP4 tables, ternary), not Q8_1, Q8_K, the integer types, F64 or Q1_0.
  row(GgmlType.Q8_1, 32, 36),
  row(GgmlType.Q8_K, QK_K, 292),
  row(GgmlType.IQ2_XXS, QK_K, 66, { dequantize: dequantizeIQ2_XXS }),
  row(GgmlType.IQ2_XS, QK_K, 74, { dequantize: dequantizeIQ2_XS }),
  row(GgmlType.IQ3_XXS, QK_K, 98, { dequantize: dequantizeIQ3_XXS }),
  row(GgmlType.IQ1_S, QK_K, 50, { dequantize: dequantizeIQ1_S }),
  row(GgmlType.IQ4_NL, 32, 18, { dequantize: dequantizeIQ4_NL }),
  row(GgmlType.IQ3_S, QK_K, 110, { dequantize: dequantizeIQ3_S }),
  row(GgmlType.IQ2_S, QK_K, 82, { dequantize: dequantizeIQ2_S }),
  row(GgmlType.IQ4_XS, QK_K, 136, { dequantize: dequantizeIQ4_XS }),
  row(GgmlType.I8, 1, 1),
  row(GgmlType.I16, 1, 2),
  row(GgmlType.I32, 1, 4),
  row(GgmlType.I64, 1, 8),
  row(GgmlType.F64, 1, 8),
  row(GgmlType.IQ1_M, QK_K, 56, { dequantize: dequantizeIQ1_M }),
  row(GgmlType.TQ1_0, QK_K, 54, { dequantize: dequantizeTQ1_0 }),
  row(GgmlType.TQ2_0, QK_K, 66, { dequantize: dequantizeTQ2_0 }),
  row(GgmlType.MXFP4, 32, 17, { dequantize: dequantizeMXFP4 }),
  row(GgmlType.NVFP4, 64, 36, { dequantize: dequantizeNVFP4 }),
  row(GgmlType.Q1_0, 128, 18),
];

const BY_ID = new Map<number, Row>(ROWS.map((r) => [r.type, r]));

/** The types sub4 can decode. */
export type SupportedType =
  | GgmlType.F32
  | GgmlType.F16
  | GgmlType.BF16
  | GgmlType.Q4_0
  | GgmlType.Q4_1
  | GgmlType.Q5_0
  | GgmlType.Q5_1
  | GgmlType.Q8_0
  | GgmlType.Q2_K
  | GgmlType.Q3_K
  | GgmlType.Q4_K
  | GgmlType.Q5_K
  | GgmlType.Q6_K
  | GgmlType.IQ2_XXS
  | GgmlType.IQ2_XS
  | GgmlType.IQ2_S
  | GgmlType.IQ3_XXS
  | GgmlType.IQ3_S
  | GgmlType.IQ1_S
  | GgmlType.IQ1_M
  | GgmlType.IQ4_NL
  | GgmlType.IQ4_XS
  | GgmlType.MXFP4
  | GgmlType.NVFP4
  | GgmlType.TQ1_0
  | GgmlType.TQ2_0;

export const BLOCK_FORMATS = Object.fromEntries(
  ROWS.filter((r) => r.dequantize !== undefined).map((r) => [r.type, r as BlockFormat]),
) as Record<SupportedType, BlockFormat>;

/** Geometry of any known type id, or undefined for ids ggml never had or removed. */
export function ggmlTypeInfo(type: number): GgmlTypeInfo | undefined {
  return BY_ID.get(type);
}

/** "Q4_K", or "unknown type 77" for an id outside the table. */
export function ggmlTypeName(type: number): string {
  return BY_ID.get(type)?.name ?? `unknown type ${type}`;
}

export function isSupportedType(type: number): type is SupportedType {
  return BY_ID.get(type)?.dequantize !== undefined;
}

/** The decoder row for a tensor's type; an UnsupportedError naming the tensor, file and type otherwise. */
export function formatOf(type: number, tensorName: string, fileName: string): BlockFormat {
  const r = BY_ID.get(type);
  if (r?.dequantize) return r as BlockFormat;
  const supported = Object.values(BLOCK_FORMATS)
    .map((f) => f.name)
    .join(', ');
  throw new UnsupportedError(
    fileName,
    `tensor ${tensorName} uses ggml block type ${ggmlTypeName(type)}, which sub4 cannot decode (supported: ${supported}); re-quantize the model to one of those types`,
  );
}
