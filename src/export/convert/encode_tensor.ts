// Encode an f32 tensor (row-major, rows of ne[0]) into ggml bytes of one type,
// with llama.cpp's quantizers, so the bytes equal llama.cpp's.
import { GgmlType } from '../../quant/formats.ts';
import { f32ToBf16, f32ToF16 } from '../../quant/f16.ts';
import { isLegacyType, quantizeLegacy } from '../../quant/quantize/ggml_legacy.ts';
import { ggmlQuantize } from '../../quant/quantize/ggml_quantize.ts';
import type { Quantizer } from '../../quant/quantize/pool.ts';
import { quantizeKQuant } from '../../quant/quantize/kquants.ts';

const K_TYPES = new Set([GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K]);

/** Without importance weights, for the float, legacy and K types (kept for callers that have no row length). */
export function encodeTensor(type: GgmlType, x: Float32Array): Uint8Array {
  switch (type) {
    case GgmlType.F32:
      return new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
    case GgmlType.F16:
    case GgmlType.BF16: {
      const conv = type === GgmlType.F16 ? f32ToF16 : f32ToBf16;
      const out = new Uint16Array(x.length);
      for (let i = 0; i < x.length; i++) out[i] = conv(x[i]);
      return new Uint8Array(out.buffer);
    }
    default:
      if (isLegacyType(type)) return quantizeLegacy(type, x);
      if (K_TYPES.has(type)) return quantizeKQuant(type, x);
      throw new RangeError(`encodeTensor: sub4 cannot write ggml type ${GgmlType[type] ?? type}`);
  }
}

/** ggmlQuantize's signature, possibly across workers (src/quant/quantize/pool.ts gives one that returns the same bytes). */
export type TensorQuantizer = Quantizer;

/**
 * Any type ggmlQuantize writes, with per-column importance weights or none, as
 * llama-quantize's llama_tensor_quantize_impl does: `ne` = [cols, rows, experts];
 * `weights` holds cols values (one vector for every row) or cols × experts (expert
 * e uses weights[e*cols .. (e+1)*cols), llama.cpp's `imatrix + i03*n_per_row`).
 * `quantize`: ggmlQuantize itself (default) or a worker pool's.
 */
export async function quantizeTensor(type: GgmlType, x: Float32Array, ne: readonly number[], weights: Float32Array | null, quantize: TensorQuantizer = ggmlQuantize): Promise<Uint8Array> {
  const cols = ne[0];
  const rows = x.length / cols;
  if (type === GgmlType.F32) return encodeTensor(type, x);
  const experts = ne.length > 2 ? ne.slice(2).reduce((a, b) => a * b, 1) : 1;
  if (!weights || weights.length === cols) return quantize(type, x, rows, cols, weights);
  if (weights.length !== cols * experts) throw new RangeError(`quantizeTensor: ${weights.length} importance weights for ${cols} columns × ${experts} experts`);
  const perExpert = rows / experts;
  const parts = [];
  let total = 0;
  for (let e = 0; e < experts; e++) {
    const p = await quantize(type, x.subarray(e * perExpert * cols, (e + 1) * perExpert * cols), perExpert, cols, weights.subarray(e * cols, (e + 1) * cols));
    parts.push(p);
    total += p.length;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) out.set(p, (o += p.length) - p.length);
  return out;
}
