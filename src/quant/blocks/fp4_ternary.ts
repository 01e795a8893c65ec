// Reference dequantizers for ggml's FP4 types (MXFP4, NVFP4) and ternary types
// (TQ1_0, TQ2_0), written from llama.cpp ggml/src/ggml-quants.c
// dequantize_row_mxfp4 / dequantize_row_nvfp4 / dequantize_row_tq1_0 /
// dequantize_row_tq2_0, the block structs and kvalues_fp4 (= kvalues_mxfp4) in
// ggml/src/ggml-common.h, and the scale decoders ggml_e8m0_to_fp32_half and
// ggml_ue4m3_to_fp32 in ggml/src/ggml-impl.h. Each product is an f32 product
// in C; Math.fround marks where it rounds (all of them are exact in practice).
import { f16Table } from '../f16.ts';

/** ggml-common.h kvalues_fp4: E2M1 values doubled (the scale decoders halve to compensate). */
export const KVALUES_FP4: readonly number[] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/** ggml-impl.h ggml_e8m0_to_fp32_half: 2^(e − 128) for every byte e (0 and 1 as f32 denormals, 255 not treated as NaN). */
export function e8m0HalfToF32(e: number): number {
  return E8M0_HALF[e & 255];
}
const E8M0_HALF = Float32Array.from({ length: 256 }, (_, e) => 2 ** (e - 128));

const UE4M3 = new Float32Array(256);
for (let x = 0; x < 256; x++) {
  // ggml-impl.h ggml_ue4m3_to_fp32: 0 and 0x7F are 0; bit 7 is ignored otherwise; the result is halved (kvalues are doubled).
  const exp = (x >> 3) & 15;
  const man = x & 7;
  const raw = exp === 0 ? man * 2 ** -9 : (1 + man / 8) * 2 ** (exp - 7);
  UE4M3[x] = x === 0 || x === 0x7f ? 0 : raw * 0.5;
}

/** ggml_ue4m3_to_fp32 of a byte, including its ×0.5. */
export function ue4m3ToF32(x: number): number {
  return UE4M3[x & 255];
}

/** block_mxfp4 (17 B): u8 e (E8M0); u8 qs[16]. y = kvalues_fp4[q]·2^(e−128); weight j < 16 low nibble of qs[j], j + 16 high. */
export function dequantizeMXFP4(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const kv = KVALUES_FP4;
  for (let i = 0; i < nBlocks; i++) {
    const o = i * 17;
    const y = i * 32;
    const d = e8m0HalfToF32(src[o]);
    for (let j = 0; j < 16; j++) {
      const b = src[o + 1 + j];
      out[y + j] = Math.fround(kv[b & 15] * d);
      out[y + j + 16] = Math.fround(kv[b >> 4] * d);
    }
  }
}

/** block_nvfp4 (36 B): u8 d[4] (UE4M3, one per 16 weights); u8 qs[32]. Sub-block s: weight j < 8 low nibble of qs[8s + j], j + 8 high; y = kvalues_fp4[q]·ue4m3(d[s]). */
export function dequantizeNVFP4(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const kv = KVALUES_FP4;
  for (let i = 0; i < nBlocks; i++) {
    const o = i * 36;
    for (let s = 0; s < 4; s++) {
      const d = UE4M3[src[o + s]];
      const q = o + 4 + 8 * s;
      const y = i * 64 + 16 * s;
      for (let j = 0; j < 8; j++) {
        const b = src[q + j];
        out[y + j] = Math.fround(kv[b & 15] * d);
        out[y + j + 8] = Math.fround(kv[b >> 4] * d);
      }
    }
  }
}

const TQ1_POW3 = [1, 3, 9, 27, 81, 243];

/**
 * Trit n (0 = most significant) of a TQ1_0 byte: ggml multiplies the byte by 3^n
 * modulo 256 and takes the top "trit" as (q·3) >> 8, so a byte holds 5 trits
 * (qh bytes 4, the fifth being 0) as ⌈v·256/243⌉ of their base-3 value v.
 */
export function tq1Trit(byte: number, n: number): number {
  return (((byte * TQ1_POW3[n]) & 255) * 3) >> 8;
}

/**
 * Position of weight e (0..255) of a TQ1_0 block: [byte offset, trit n].
 * qs[0..31] carry weights 32n + m (n < 5), qs[32..47] weights 160 + 16n + m,
 * qh[0..3] (bytes 48..51) weights 240 + 4n + j (n < 4); d is at bytes 52..53.
 */
export function tq1Position(e: number): [byte: number, n: number] {
  if (e < 160) return [e & 31, e >> 5];
  if (e < 240) return [32 + ((e - 160) & 15), (e - 160) >> 4];
  return [48 + ((e - 240) & 3), (e - 240) >> 2];
}

/** tq1Position as two tables: TQ1_BYTE[e], TQ1_TRIT[e]. */
export const TQ1_BYTE = new Uint8Array(256);
export const TQ1_TRIT = new Uint8Array(256);
for (let e = 0; e < 256; e++) [TQ1_BYTE[e], TQ1_TRIT[e]] = tq1Position(e);

/** block_tq1_0 (54 B): u8 qs[48]; u8 qh[4]; f16 d. y = (trit − 1)·d */
export function dequantizeTQ1_0(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const t = f16Table();
  for (let i = 0; i < nBlocks; i++) {
    const o = i * 54;
    const d = t[src[o + 52] | (src[o + 53] << 8)];
    for (let e = 0; e < 256; e++) {
      out[i * 256 + e] = Math.fround((tq1Trit(src[o + TQ1_BYTE[e]], TQ1_TRIT[e]) - 1) * d);
    }
  }
}

/** block_tq2_0 (66 B): u8 qs[64]; f16 d. Weight e: 2 bits at 2·((e >> 5) & 3) of qs[32·(e >> 7) + (e & 31)]; y = (q − 1)·d (q = 3 gives 2d). */
export function dequantizeTQ2_0(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const t = f16Table();
  for (let i = 0; i < nBlocks; i++) {
    const o = i * 66;
    const d = t[src[o + 64] | (src[o + 65] << 8)];
    for (let e = 0; e < 256; e++) {
      const q = (src[o + 32 * (e >> 7) + (e & 31)] >> (2 * ((e >> 5) & 3))) & 3;
      out[i * 256 + e] = Math.fround((q - 1) * d);
    }
  }
}
