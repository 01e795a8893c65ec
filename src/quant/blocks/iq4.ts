// Reference dequantizers for ggml's non-linear 4-bit types IQ4_NL and IQ4_XS,
// written from llama.cpp ggml/src/ggml-quants.c dequantize_row_iq4_nl /
// dequantize_row_iq4_xs and the block structs in ggml/src/ggml-common.h
// (block_iq4_nl, block_iq4_xs, kvalues_iq4nl); docs: formats-2.md §1.1–1.3.
// Inside a 32-weight (sub-)block, weight j < 16 is the low nibble of qs[j] and
// weight j + 16 the high nibble of qs[j]; the nibble indexes kvalues_iq4nl.
import { f16Table } from '../f16.ts';

/** ggml-common.h kvalues_iq4nl: the 16 non-uniform levels shared by IQ4_NL and IQ4_XS. */
export const KVALUES_IQ4NL: readonly number[] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/** block_iq4_nl (18 B): f16 d; u8 qs[16]. y = d·kvalues_iq4nl[q] */
export function dequantizeIQ4_NL(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const t = f16Table();
  const kv = KVALUES_IQ4NL;
  for (let i = 0; i < nBlocks; i++) {
    const o = i * 18;
    const y = i * 32;
    const d = t[src[o] | (src[o + 1] << 8)];
    for (let j = 0; j < 16; j++) {
      const b = src[o + 2 + j];
      out[y + j] = Math.fround(d * kv[b & 15]);
      out[y + j + 16] = Math.fround(d * kv[b >> 4]);
    }
  }
}

/**
 * block_iq4_xs (136 B): f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128].
 * Sub-block ib (32 weights) has the 6-bit scale ls = low nibble ib of scales_l
 * | 2 bits ib of scales_h << 4, and dl = d·(ls − 32) (an f32 product in C);
 * y = dl·kvalues_iq4nl[q] with qs[16·ib ..] holding its nibbles.
 */
export function dequantizeIQ4_XS(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const t = f16Table();
  const kv = KVALUES_IQ4NL;
  for (let i = 0; i < nBlocks; i++) {
    const o = i * 136;
    const d = t[src[o] | (src[o + 1] << 8)];
    const sh = src[o + 2] | (src[o + 3] << 8);
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((src[o + 4 + (ib >> 1)] >> (4 * (ib & 1))) & 15) | (((sh >> (2 * ib)) & 3) << 4);
      const dl = Math.fround(d * (ls - 32));
      const q = o + 8 + 16 * ib;
      const y = i * 256 + 32 * ib;
      for (let j = 0; j < 16; j++) {
        const b = src[q + j];
        out[y + j] = Math.fround(dl * kv[b & 15]);
        out[y + j + 16] = Math.fround(dl * kv[b >> 4]);
      }
    }
  }
}
