// Encode an f32 tensor (row-major, rows of ne[0]) into ggml bytes of one type,
// with llama.cpp's reference quantizers, so the bytes equal llama.cpp's.
import { GgmlType } from '../../quant/formats.ts';
import { f32ToBf16, f32ToF16 } from '../../quant/f16.ts';
import { isLegacyType, quantizeLegacy } from '../../quant/quantize/ggml_legacy.ts';
import { quantizeKQuant } from '../../quant/quantize/kquants.ts';

const K_TYPES = new Set([GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K]);

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
