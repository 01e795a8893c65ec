// Reference dequantizers for ggml's 32-element "legacy" blocks, following
// ggml-quants.c dequantize_row_q4_0 / q4_1 / q5_0 / q5_1 / q8_0 (byte layouts in
// docs/formats.md §2). Element e < 16 is the low nibble of qs[e], e >= 16 the high
// nibble of qs[e-16]. Every product here is exact in f64 (≤ 8-bit code × 11-bit
// f16 scale), so storing into the Float32Array rounds once, exactly as C's float does.
import { f16Table } from '../f16.ts';

/** block_q4_0 (18 B): f16 d; u8 qs[16]. y = (q - 8)·d */
export function dequantizeQ4_0(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const t = f16Table();
  for (let i = 0; i < nBlocks; i++) {
    const o = i * 18;
    const y = i * 32;
    const d = t[src[o] | (src[o + 1] << 8)];
    for (let j = 0; j < 16; j++) {
      const b = src[o + 2 + j];
      out[y + j] = ((b & 15) - 8) * d;
      out[y + j + 16] = ((b >> 4) - 8) * d;
    }
  }
}

/** block_q4_1 (20 B): f16 d; f16 m; u8 qs[16]. y = q·d + m */
export function dequantizeQ4_1(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const t = f16Table();
  for (let i = 0; i < nBlocks; i++) {
    const o = i * 20;
    const y = i * 32;
    const d = t[src[o] | (src[o + 1] << 8)];
    const m = t[src[o + 2] | (src[o + 3] << 8)];
    for (let j = 0; j < 16; j++) {
      const b = src[o + 4 + j];
      out[y + j] = (b & 15) * d + m;
      out[y + j + 16] = (b >> 4) * d + m;
    }
  }
}

/** block_q5_0 (22 B): f16 d; u8 qh[4] (u32 LE, bit e = 5th bit of element e); u8 qs[16]. y = (q - 16)·d */
export function dequantizeQ5_0(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const t = f16Table();
  for (let i = 0; i < nBlocks; i++) {
    const o = i * 22;
    const y = i * 32;
    const d = t[src[o] | (src[o + 1] << 8)];
    const qh = (src[o + 2] | (src[o + 3] << 8) | (src[o + 4] << 16) | (src[o + 5] << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const b = src[o + 6 + j];
      const h0 = ((qh >>> j) << 4) & 0x10;
      const h1 = (qh >>> (j + 12)) & 0x10;
      out[y + j] = (((b & 15) | h0) - 16) * d;
      out[y + j + 16] = (((b >> 4) | h1) - 16) * d;
    }
  }
}

/** block_q5_1 (24 B): f16 d; f16 m; u8 qh[4]; u8 qs[16]. y = q·d + m */
export function dequantizeQ5_1(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const t = f16Table();
  for (let i = 0; i < nBlocks; i++) {
    const o = i * 24;
    const y = i * 32;
    const d = t[src[o] | (src[o + 1] << 8)];
    const m = t[src[o + 2] | (src[o + 3] << 8)];
    const qh = (src[o + 4] | (src[o + 5] << 8) | (src[o + 6] << 16) | (src[o + 7] << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const b = src[o + 8 + j];
      const h0 = ((qh >>> j) << 4) & 0x10;
      const h1 = (qh >>> (j + 12)) & 0x10;
      out[y + j] = ((b & 15) | h0) * d + m;
      out[y + j + 16] = ((b >> 4) | h1) * d + m;
    }
  }
}

/** block_q8_0 (34 B): f16 d; i8 qs[32]. y = q·d */
export function dequantizeQ8_0(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const t = f16Table();
  for (let i = 0; i < nBlocks; i++) {
    const o = i * 34;
    const y = i * 32;
    const d = t[src[o] | (src[o + 1] << 8)];
    for (let j = 0; j < 32; j++) out[y + j] = ((src[o + 2 + j] << 24) >> 24) * d;
  }
}
