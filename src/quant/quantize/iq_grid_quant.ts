// Entry point for llama.cpp's lattice-grid i-quant quantizers (IQ2_XXS, IQ2_XS,
// IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M), byte-identical to ggml-quants.c
// quantize_iq* (which ggml_quantize_chunk calls): rows of `cols` values, each
// quantized on its own with the same importance vector `weights` (length cols,
// one weight per column), as quantize_iq* passes quant_weights unchanged to
// every row. IQ2_XXS, IQ2_XS and IQ1_S need weights: llama.cpp asserts
// ("missing quantization weights"); here that is a GridQuantWeightsError.
import { GgmlType, ggmlTypeName } from '../formats.ts';
import { quantizeRowIQ1M, quantizeRowIQ1S } from './iq1_quant.ts';
import { quantizeRowIQ2S, quantizeRowIQ2XS, quantizeRowIQ2XXS } from './iq2_quant.ts';
import { quantizeRowIQ3S, quantizeRowIQ3XXS } from './iq3_quant.ts';

const QK_K = 256;

type RowQuantizer = (x: Float32Array, xo: number, n: number, qw: Float32Array | null, out: Uint8Array, o: number) => void;

interface GridType {
  bytesPerBlock: number;
  needsWeights: boolean;
  row: RowQuantizer;
}

export const GRID_IQ_QUANTIZERS: Partial<Record<GgmlType, GridType>> = {
  [GgmlType.IQ1_S]: { bytesPerBlock: 50, needsWeights: true, row: quantizeRowIQ1S },
  [GgmlType.IQ1_M]: { bytesPerBlock: 56, needsWeights: false, row: quantizeRowIQ1M },
  [GgmlType.IQ2_XXS]: { bytesPerBlock: 66, needsWeights: true, row: quantizeRowIQ2XXS },
  [GgmlType.IQ2_XS]: { bytesPerBlock: 74, needsWeights: true, row: quantizeRowIQ2XS },
  [GgmlType.IQ2_S]: { bytesPerBlock: 82, needsWeights: false, row: quantizeRowIQ2S },
  [GgmlType.IQ3_XXS]: { bytesPerBlock: 98, needsWeights: false, row: quantizeRowIQ3XXS },
  [GgmlType.IQ3_S]: { bytesPerBlock: 110, needsWeights: false, row: quantizeRowIQ3S },
};

/** Thrown for IQ2_XXS, IQ2_XS and IQ1_S without an importance matrix (llama.cpp: GGML_ASSERT(quant_weights)). */
export class GridQuantWeightsError extends Error {
  constructor(readonly type: GgmlType) {
    super(`${ggmlTypeName(type)}: missing quantization weights (an importance matrix is required)`);
    this.name = 'GridQuantWeightsError';
  }
}

export function isGridIQType(type: GgmlType): boolean {
  return GRID_IQ_QUANTIZERS[type] !== undefined;
}

/** quantize_iq*(src, dst, rows, cols, weights): rows × cols f32 values → the type's blocks, row after row. */
export function quantizeGridIQ(type: GgmlType, src: Float32Array, rows: number, cols: number, weights: Float32Array | null): Uint8Array {
  const q = GRID_IQ_QUANTIZERS[type];
  if (!q) throw new RangeError(`quantizeGridIQ: ${ggmlTypeName(type)} is not a lattice-grid i-quant`);
  if (q.needsWeights && !weights) throw new GridQuantWeightsError(type);
  if (cols % QK_K !== 0) throw new RangeError(`quantizeGridIQ: row length ${cols} is not a multiple of ${QK_K}`);
  if (src.length < rows * cols) throw new RangeError(`quantizeGridIQ: ${src.length} values, needs ${rows * cols}`);
  if (weights && weights.length < cols) throw new RangeError(`quantizeGridIQ: ${weights.length} weights for rows of ${cols}`);
  const rowBytes = (cols / QK_K) * q.bytesPerBlock;
  const out = new Uint8Array(rows * rowBytes);
  for (let r = 0; r < rows; r++) q.row(src, r * cols, cols, weights, out, r * rowBytes);
  return out;
}
