// Half-precision (IEEE binary16) and bfloat16 conversions, bit-exact with ggml:
// GGML_FP32_TO_FP16 rounds to nearest, ties to even, keeps subnormals, maps
// overflow to ±inf and NaN to a quiet NaN (0x7e00 | sign); ggml's f32→bf16 also
// rounds to nearest even and quiets NaN. The quantizers depend on this being
// exact, because llama.cpp computes codes from the f32 scale but stores the
// f16-rounded one.

const f32Box = new Float32Array(1);
const u32Box = new Uint32Array(f32Box.buffer);

/** The raw bits of x rounded to f32. */
export function f32Bits(x: number): number {
  f32Box[0] = x;
  return u32Box[0];
}

/** The f32 value with the given raw bits. */
export function f32FromBits(bits: number): number {
  u32Box[0] = bits >>> 0;
  return f32Box[0];
}

/** f32 (any JS number, first rounded to f32) → f16 bits, round to nearest even. */
export function f32ToF16(x: number): number {
  const bits = f32Bits(x);
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | (mant !== 0 ? 0x7e00 : 0x7c00);
  const e = exp - 127 + 15; // biased f16 exponent
  if (e >= 31) return sign | 0x7c00; // too large even before rounding
  if (e <= 0) {
    // f16 subnormal (or zero): units of 2^-24. Below 2^-25 everything rounds to 0.
    if (e < -10) return sign;
    const m = mant | 0x800000; // 24-bit significand with the implicit 1
    const shift = 14 - e; // 14..24
    let q = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (q & 1) !== 0)) q++; // q may carry into the smallest normal: still correct
    return sign | q;
  }
  let q = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (q & 1) !== 0)) q++; // a carry may round up to inf (0x7c00): correct
  return sign | q;
}

function f16BitsToF32Slow(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

let table: Float32Array | null = null;

/** All 65,536 f16 values as f32; built on first use (256 KiB) so block decoders are a lookup. */
export function f16Table(): Float32Array {
  if (table === null) {
    const t = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) t[h] = f16BitsToF32Slow(h);
    table = t;
  }
  return table;
}

/** f16 bits → f32 value. */
export function f16ToF32(h: number): number {
  return f16Table()[h & 0xffff];
}

/** bf16 bits → f32 value (bf16 is the top half of an f32). */
export function bf16ToF32(b: number): number {
  return f32FromBits((b & 0xffff) << 16);
}

/** f32 → bf16 bits as ggml_compute_fp32_to_bf16: round to nearest even, NaN quieted. */
export function f32ToBf16(x: number): number {
  const u = f32Bits(x);
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 64) & 0xffff;
  return ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16) & 0xffff;
}

/** Little-endian u16 at byte offset o. */
export function readU16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

/** The f16 stored little-endian at byte offset o, as f32. */
export function readF16(b: Uint8Array, o: number): number {
  return f16Table()[b[o] | (b[o + 1] << 8)];
}

/** Store f16 bits little-endian at byte offset o. */
export function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}
