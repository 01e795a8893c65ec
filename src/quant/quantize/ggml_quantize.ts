// One entry point mirroring ggml.c ggml_quantize_chunk (start = 0, the whole
// tensor): dispatch on the ggml type to the port of quantize_<type>, passing the
// per-column importance weights (llama-quantize's imatrix: in_sum2[j]/counts,
// one per input column, the same for every row; docs/formats-2.md §1.4) where
// llama.cpp uses them. As in ggml-quants.c quantize_<type>:
// - Q2_K..Q6_K, Q4_0..Q5_1: weights select the *_impl path, null the _ref path;
// - IQ4_NL, IQ4_XS: one impl (quantize_row_iq4_nl_impl), weighted when given;
// - Q8_0, TQ1_0, TQ2_0, MXFP4, NVFP4: weights ignored (no weighted path exists);
// - F32, F16, BF16: plain conversion (ggml_fp32_to_fp16_row / _bf16_row);
// - IQ2_XXS, IQ2_XS, IQ1_S require weights (ggml_quantize_requires_imatrix):
//   ImatrixRequiredError without them;
// - the grid i-quants (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S):
//   iq_grid_quant.ts (quantize_iq1_s … quantize_iq3_s).
import { Sub4Error } from '../../base/errors.ts';
import { f32ToBf16, f32ToF16 } from '../f16.ts';
import { GgmlType } from '../formats.ts';
import { LEGACY_QUANTIZERS } from './ggml_legacy.ts';
import { quantizeIQ4_NL, quantizeIQ4_XS, quantizeMXFP4, quantizeNVFP4, quantizeTQ1_0, quantizeTQ2_0 } from './iq_table_quant.ts';
import { isKQuantType, quantizeKQuant } from './kquants.ts';
import { quantizeGridIQ } from './iq_grid_quant.ts';
import { quantizeKQuantWeighted } from './kquants_weighted.ts';
import { isLegacyWeightedType, quantizeLegacyWeighted } from './legacy_weighted.ts';

function typeName(type: GgmlType): string {
  return GgmlType[type] ?? `ggml type ${type}`;
}

/** The type needs an importance matrix (ggml_quantize_requires_imatrix) and none was given. */
export class ImatrixRequiredError extends Sub4Error {
  constructor(readonly type: GgmlType) {
    super(`${typeName(type)} cannot be quantized without an importance matrix (llama.cpp refuses it too: ggml_quantize_requires_imatrix)`);
  }
}

/** sub4 has no quantizer for this type (yet); the message names it. */
export class QuantizeUnsupportedError extends Sub4Error {
  constructor(
    readonly type: GgmlType,
    detail: string,
  ) {
    super(`cannot quantize to ${typeName(type)}: ${detail}`);
  }
}

/** ggml_quantize_requires_imatrix. */
export function quantizeRequiresImatrix(type: GgmlType): boolean {
  return type === GgmlType.IQ2_XXS || type === GgmlType.IQ2_XS || type === GgmlType.IQ1_S;
}

/** A whole-tensor quantizer: rows of `cols` values, weights one per column or null. */
export type GgmlQuantizer = (src: Float32Array, rows: number, cols: number, weights: Float32Array | null) => Uint8Array;

/** The grid i-quants (quantize_iq1_s, _iq1_m, _iq2_xxs, _iq2_xs, _iq2_s, _iq3_xxs, _iq3_s). */
export const GRID_IQUANTS: readonly GgmlType[] = [
  GgmlType.IQ1_S,
  GgmlType.IQ1_M,
  GgmlType.IQ2_XXS,
  GgmlType.IQ2_XS,
  GgmlType.IQ2_S,
  GgmlType.IQ3_XXS,
  GgmlType.IQ3_S,
];

/** ggml_fp32_to_fp16_row / ggml_fp32_to_bf16_row into little-endian bytes. */
function convert(src: Float32Array, toBits: (x: number) => number): Uint8Array {
  const out = new Uint8Array(src.length * 2);
  for (let i = 0; i < src.length; i++) {
    const h = toBits(src[i]);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

/**
 * ggml_quantize_chunk for a whole tensor: `src` holds rows × cols values (cols
 * = ne[0], the row length), `weights` one importance per column (or null).
 * Returns the tensor's bytes exactly as llama.cpp writes them.
 */
export function ggmlQuantize(type: GgmlType, src: Float32Array, rows: number, cols: number, weights: Float32Array | null): Uint8Array {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols <= 0 || rows * cols !== src.length)
    throw new RangeError(`ggmlQuantize: ${rows} rows × ${cols} columns does not match ${src.length} values`);
  if (weights && weights.length !== cols) throw new RangeError(`ggmlQuantize: ${weights.length} importance weights for ${cols} columns`);
  if (quantizeRequiresImatrix(type) && !weights) throw new ImatrixRequiredError(type);
  if (isKQuantType(type)) return weights ? quantizeKQuantWeighted(type, src, cols, weights) : quantizeKQuant(type, src, cols);
  if (isLegacyWeightedType(type)) {
    if (weights) return quantizeLegacyWeighted(type, src, cols, weights);
    checkBlock(type, cols, 32);
    const q = LEGACY_QUANTIZERS[type];
    const out = new Uint8Array((src.length / 32) * q.bytesPerBlock);
    q.quantizeRow(src, out);
    return out;
  }
  switch (type) {
    case GgmlType.Q8_0: {
      checkBlock(type, cols, 32);
      const out = new Uint8Array((src.length / 32) * 34);
      LEGACY_QUANTIZERS[GgmlType.Q8_0].quantizeRow(src, out); // quantize_q8_0 ignores quant_weights
      return out;
    }
    case GgmlType.IQ4_NL:
      return quantizeIQ4_NL(src, cols, weights);
    case GgmlType.IQ4_XS:
      return quantizeIQ4_XS(src, cols, weights);
    case GgmlType.TQ1_0:
      return checkBlock(type, cols, 256), quantizeTQ1_0(src);
    case GgmlType.TQ2_0:
      return checkBlock(type, cols, 256), quantizeTQ2_0(src);
    case GgmlType.MXFP4:
      return checkBlock(type, cols, 32), quantizeMXFP4(src);
    case GgmlType.NVFP4:
      return checkBlock(type, cols, 64), quantizeNVFP4(src);
    case GgmlType.F32:
      return new Uint8Array(Float32Array.from(src).buffer);
    case GgmlType.F16:
      return convert(src, f32ToF16);
    case GgmlType.BF16:
      return convert(src, f32ToBf16);
  }
  if (GRID_IQUANTS.includes(type)) return quantizeGridIQ(type, src, rows, cols, weights);
  throw new QuantizeUnsupportedError(type, 'ggml_quantize_chunk has no quantizer for it, or sub4 has not ported it');
}

function checkBlock(type: GgmlType, cols: number, block: number): void {
  if (cols % block !== 0) throw new RangeError(`ggmlQuantize: ${typeName(type)} needs rows that are a multiple of ${block}, got ${cols}`);
}
