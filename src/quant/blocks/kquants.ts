// Reference dequantizers for the K-quants (256-element super-blocks), following
// ggml-quants.c dequantize_row_q2_K … q6_K. Byte layouts (docs/formats.md §2):
//   Q2_K 84 B : u8 scales[16]; u8 qs[64]; f16 d; f16 dmin
//   Q3_K 110 B: u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d
//   Q4_K 144 B: f16 d; f16 dmin; u8 scales[12]; u8 qs[128]
//   Q5_K 176 B: f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
//   Q6_K 210 B: u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d
// The sub-block of element e is always e / subBlockSize; only the code bits are
// interleaved. Scale products (f16 × ≤8-bit int × code) are exact in f64, so the
// single rounding at the Float32Array store matches C's float arithmetic.
import { f16Table } from '../f16.ts';
import { decodeQ2KScales, decodeQ3KScales, decodeQ6KScales, decodeScaleMinK4 } from './kscales.ts';

const sc = new Int32Array(16);
const mn = new Int32Array(16);

export function dequantizeQ2_K(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const t = f16Table();
  for (let i = 0; i < nBlocks; i++) {
    const o = i * 84;
    const d = t[src[o + 80] | (src[o + 81] << 8)];
    const dmin = t[src[o + 82] | (src[o + 83] << 8)];
    decodeQ2KScales(src, o, sc, mn);
    let y = i * 256;
    for (let n = 0; n < 2; n++) {
      const q = o + 16 + 32 * n;
      for (let j = 0; j < 4; j++) {
        for (let h = 0; h < 2; h++) {
          const s = 8 * n + 2 * j + h;
          const dl = d * sc[s];
          const ml = dmin * mn[s];
          for (let l = 0; l < 16; l++) out[y++] = dl * ((src[q + 16 * h + l] >> (2 * j)) & 3) - ml;
        }
      }
    }
  }
}

export function dequantizeQ3_K(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const t = f16Table();
  for (let i = 0; i < nBlocks; i++) {
    const o = i * 110;
    const d = t[src[o + 108] | (src[o + 109] << 8)];
    decodeQ3KScales(src, o + 96, sc);
    let y = i * 256;
    for (let n = 0; n < 2; n++) {
      const q = o + 32 + 32 * n;
      for (let j = 0; j < 4; j++) {
        const bit = 4 * n + j; // hmask bit for this (n, j)
        for (let h = 0; h < 2; h++) {
          const dl = d * sc[8 * n + 2 * j + h];
          for (let l = 0; l < 16; l++) {
            const lo = (src[q + 16 * h + l] >> (2 * j)) & 3;
            const hi = (src[o + 16 * h + l] >> bit) & 1;
            out[y++] = dl * (lo - (hi ? 0 : 4));
          }
        }
      }
    }
  }
}

export function dequantizeQ4_K(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const t = f16Table();
  for (let i = 0; i < nBlocks; i++) {
    const o = i * 144;
    const d = t[src[o] | (src[o + 1] << 8)];
    const dmin = t[src[o + 2] | (src[o + 3] << 8)];
    decodeScaleMinK4(src, o + 4, sc, mn);
    let y = i * 256;
    for (let c = 0; c < 4; c++) {
      const q = o + 16 + 32 * c;
      const d1 = d * sc[2 * c], m1 = dmin * mn[2 * c];
      const d2 = d * sc[2 * c + 1], m2 = dmin * mn[2 * c + 1];
      for (let l = 0; l < 32; l++) out[y++] = d1 * (src[q + l] & 15) - m1;
      for (let l = 0; l < 32; l++) out[y++] = d2 * (src[q + l] >> 4) - m2;
    }
  }
}

export function dequantizeQ5_K(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const t = f16Table();
  for (let i = 0; i < nBlocks; i++) {
    const o = i * 176;
    const d = t[src[o] | (src[o + 1] << 8)];
    const dmin = t[src[o + 2] | (src[o + 3] << 8)];
    decodeScaleMinK4(src, o + 4, sc, mn);
    const qh = o + 16;
    let y = i * 256;
    for (let c = 0; c < 4; c++) {
      const q = o + 48 + 32 * c;
      const d1 = d * sc[2 * c], m1 = dmin * mn[2 * c];
      const d2 = d * sc[2 * c + 1], m2 = dmin * mn[2 * c + 1];
      const u1 = 1 << (2 * c), u2 = 2 << (2 * c);
      for (let l = 0; l < 32; l++) out[y++] = d1 * ((src[q + l] & 15) + (src[qh + l] & u1 ? 16 : 0)) - m1;
      for (let l = 0; l < 32; l++) out[y++] = d2 * ((src[q + l] >> 4) + (src[qh + l] & u2 ? 16 : 0)) - m2;
    }
  }
}

export function dequantizeQ6_K(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const t = f16Table();
  for (let i = 0; i < nBlocks; i++) {
    const o = i * 210;
    const d = t[src[o + 208] | (src[o + 209] << 8)];
    decodeQ6KScales(src, o + 192, sc);
    for (let n = 0; n < 2; n++) {
      const ql = o + 64 * n;
      const qh = o + 128 + 32 * n;
      const y = i * 256 + 128 * n;
      const s0 = 8 * n;
      for (let l = 0; l < 32; l++) {
        const is = s0 + (l >> 4);
        const h = src[qh + l];
        const q1 = ((src[ql + l] & 15) | ((h & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32] & 15) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[y + l] = d * sc[is] * q1;
        out[y + l + 32] = d * sc[is + 2] * q2;
        out[y + l + 64] = d * sc[is + 4] * q3;
        out[y + l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}
