// Scalar decoders for the 8-bit float formats safetensors files may carry
// (F8_E4M3, F8_E5M2) → f32, and a 256-entry table builder so bulk decoding is
// one lookup per byte. F16/BF16 come from the shared src/quant/f16.ts.
import { f16ToF32 } from '../../quant/f16.ts';

/** F8_E4M3 ("e4m3fn", OCP FP8): bias 7, no infinities, S.1111.111 is NaN. */
export function f8e4m3BitsToF32(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >> 3) & 0xf;
  const mant = b & 0x7;
  if (exp === 0xf && mant === 0x7) return NaN;
  if (exp === 0) return sign * mant * 2 ** -9; // subnormal: mant/8 · 2^(1−7)
  return sign * (1 + mant / 8) * 2 ** (exp - 7);
}

/** F8_E5M2: IEEE-like, bias 15, with infinities and NaNs: exactly the top byte of an f16. */
export function f8e5m2BitsToF32(b: number): number {
  return f16ToF32((b & 0xff) << 8);
}

/** A 256-entry table for an 8-bit format. */
export function byteTable(decode: (b: number) => number): Float32Array {
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) t[i] = decode(i);
  return t;
}
