// The safetensors dtype table: one row per dtype string of the spec
// (huggingface/safetensors `enum Dtype`), with its bit width and, where sub4
// can use it, a bulk decoder to f32. Dtypes without a decoder can still be
// opened, listed and copied as bytes; converting them raises UnsupportedError.
import { bf16ToF32Bulk, byteTable, f16ToF32Bulk, f8e4m3BitsToF32, f8e5m2BitsToF32 } from './convert.ts';

/** Decodes `out.length` little-endian elements from `bytes` (whose byteOffset is element-aligned). */
export type DecodeF32 = (bytes: Uint8Array, out: Float32Array) => void;

export interface DtypeInfo {
  /** Bits per element; sub-byte formats (F4, F6) pack elements across bytes. */
  readonly bits: number;
  /** Natural alignment in bytes for typed-array views (1 for byte and sub-byte formats). */
  readonly align: number;
  readonly toF32: DecodeF32 | null;
}

// Typed-array views read the host's byte order; every platform sub4 targets
// (x86, ARM in browsers and Node) is little-endian like the format.
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!HOST_LE) throw new Error('sub4 safetensors: big-endian hosts are not supported');

const view =
  <T extends ArrayLike<number | bigint>>(make: (buf: ArrayBufferLike, off: number, n: number) => T) =>
  (bytes: Uint8Array, out: Float32Array) => {
    const src = make(bytes.buffer, bytes.byteOffset, out.length);
    for (let i = 0; i < out.length; i++) out[i] = Number(src[i]);
  };

const lut8 = (table: Float32Array) => (bytes: Uint8Array, out: Float32Array) => {
  for (let i = 0; i < out.length; i++) out[i] = table[bytes[i]];
};

const E4M3 = byteTable(f8e4m3BitsToF32);
const E5M2 = byteTable(f8e5m2BitsToF32);

export const DTYPES = {
  BOOL: { bits: 8, align: 1, toF32: (b, out) => { for (let i = 0; i < out.length; i++) out[i] = b[i] ? 1 : 0; } },
  U8: { bits: 8, align: 1, toF32: view((buf, o, n) => new Uint8Array(buf, o, n)) },
  I8: { bits: 8, align: 1, toF32: view((buf, o, n) => new Int8Array(buf, o, n)) },
  U16: { bits: 16, align: 2, toF32: view((buf, o, n) => new Uint16Array(buf, o, n)) },
  I16: { bits: 16, align: 2, toF32: view((buf, o, n) => new Int16Array(buf, o, n)) },
  F16: { bits: 16, align: 2, toF32: f16ToF32Bulk },
  BF16: { bits: 16, align: 2, toF32: bf16ToF32Bulk },
  U32: { bits: 32, align: 4, toF32: view((buf, o, n) => new Uint32Array(buf, o, n)) },
  I32: { bits: 32, align: 4, toF32: view((buf, o, n) => new Int32Array(buf, o, n)) },
  F32: { bits: 32, align: 4, toF32: (b, out) => out.set(new Float32Array(b.buffer, b.byteOffset, out.length)) },
  U64: { bits: 64, align: 8, toF32: view((buf, o, n) => new BigUint64Array(buf, o, n)) },
  I64: { bits: 64, align: 8, toF32: view((buf, o, n) => new BigInt64Array(buf, o, n)) },
  F64: { bits: 64, align: 8, toF32: view((buf, o, n) => new Float64Array(buf, o, n)) },
  F8_E4M3: { bits: 8, align: 1, toF32: lut8(E4M3) },
  F8_E5M2: { bits: 8, align: 1, toF32: lut8(E5M2) },
  // Known to the spec, not decoded by sub4 (no Llama-family checkpoint we load uses them).
  F8_E8M0: { bits: 8, align: 1, toF32: null },
  F8_E4M3FNUZ: { bits: 8, align: 1, toF32: null },
  F8_E5M2FNUZ: { bits: 8, align: 1, toF32: null },
  F4: { bits: 4, align: 1, toF32: null },
  F6_E2M3: { bits: 6, align: 1, toF32: null },
  F6_E3M2: { bits: 6, align: 1, toF32: null },
  C64: { bits: 64, align: 4, toF32: null },
} satisfies Record<string, DtypeInfo>;

export type SafetensorsDtype = keyof typeof DTYPES;

export function isDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === 'string' && Object.hasOwn(DTYPES, s);
}

/** Bytes for `numel` elements, or null when the bit count is not a whole number of bytes. */
export function byteSize(dtype: SafetensorsDtype, numel: number): number | null {
  const bits = numel * DTYPES[dtype].bits;
  return Number.isSafeInteger(bits) && bits % 8 === 0 ? bits / 8 : null;
}
