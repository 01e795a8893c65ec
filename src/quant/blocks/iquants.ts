// Reference dequantizers of the lattice-grid i-quants (IQ2_XXS, IQ2_XS, IQ2_S,
// IQ3_XXS, IQ3_S, IQ1_S, IQ1_M), written block by block from formats-2.md §1.3
// with f32 arithmetic where ggml's dequantize_row_* rounds (Math.fround): the
// sub-block scale db is rounded once (IQ2/IQ3_XXS: d·(0.5 + ls) then ·0.25 or
// ·0.5, both exact), then each weight is round(db·G)·σ. The grids are in
// iq_grids.ts. Blocks are 256 weights; all multi-byte fields are little-endian.
import { f16ToF32 } from '../f16.ts';
import { IQ1_DELTA, iqGrid, ksignsIq2xs } from './iq_grids.ts';

const f = Math.fround;
const u16 = (s: Uint8Array, o: number) => s[o] | (s[o + 1] << 8);
const u32 = (s: Uint8Array, o: number) => (s[o] | (s[o + 1] << 8) | (s[o + 2] << 16) | (s[o + 3] << 24)) >>> 0;

/** y[0..8) = round(db·G[j])·sgn(S, j) for one 8-vector of a signed grid. */
function put8(out: Float32Array, o: number, db: number, grid: Uint8Array, e: number, signs: number): void {
  for (let j = 0; j < 8; j++) {
    const v = f(db * grid[e * 8 + j]);
    out[o + j] = (signs >> j) & 1 ? -v : v;
  }
}

export function dequantizeIQ2_XXS(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const grid = iqGrid('iq2xxs') as Uint8Array;
  const ks = ksignsIq2xs();
  for (let i = 0; i < nBlocks; i++) {
    const b = i * 66;
    const d = f16ToF32(u16(src, b));
    for (let ib = 0; ib < 8; ib++) {
      const q = b + 2 + 8 * ib;
      const a1 = u32(src, q + 4);
      const db = f(f(d * (0.5 + (a1 >>> 28))) * 0.25);
      for (let l = 0; l < 4; l++) put8(out, i * 256 + ib * 32 + l * 8, db, grid, src[q + l], ks[(a1 >>> (7 * l)) & 127]);
    }
  }
}

export function dequantizeIQ2_XS(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const grid = iqGrid('iq2xs') as Uint8Array;
  const ks = ksignsIq2xs();
  for (let i = 0; i < nBlocks; i++) {
    const b = i * 74;
    const d = f16ToF32(u16(src, b));
    for (let ib = 0; ib < 8; ib++) {
      const sc = src[b + 66 + ib];
      const db = [f(f(d * (0.5 + (sc & 15))) * 0.25), f(f(d * (0.5 + (sc >> 4))) * 0.25)];
      for (let l = 0; l < 4; l++) {
        const q = u16(src, b + 2 + 2 * (4 * ib + l));
        put8(out, i * 256 + ib * 32 + l * 8, db[l >> 1], grid, q & 511, ks[q >> 9]);
      }
    }
  }
}

export function dequantizeIQ2_S(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const grid = iqGrid('iq2s') as Uint8Array;
  for (let i = 0; i < nBlocks; i++) {
    const b = i * 82;
    const d = f16ToF32(u16(src, b));
    const qs = b + 2, signs = b + 34, qh = b + 66, scales = b + 74;
    for (let ib = 0; ib < 8; ib++) {
      const sc = src[scales + ib];
      const db = [f(f(d * (0.5 + (sc & 15))) * 0.25), f(f(d * (0.5 + (sc >> 4))) * 0.25)];
      for (let l = 0; l < 4; l++) {
        const idx = src[qs + 4 * ib + l] | (((src[qh + ib] >> (2 * l)) & 3) << 8);
        put8(out, i * 256 + ib * 32 + l * 8, db[l >> 1], grid, idx, src[signs + 4 * ib + l]);
      }
    }
  }
}

export function dequantizeIQ3_XXS(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const grid = iqGrid('iq3xxs') as Uint8Array;
  const ks = ksignsIq2xs();
  for (let i = 0; i < nBlocks; i++) {
    const b = i * 98;
    const d = f16ToF32(u16(src, b));
    const qs = b + 2;
    for (let ib = 0; ib < 8; ib++) {
      const w = u32(src, qs + 64 + 4 * ib);
      const db = f(f(d * (0.5 + (w >>> 28))) * 0.5);
      for (let l = 0; l < 4; l++) {
        const s = ks[(w >>> (7 * l)) & 127];
        const o = i * 256 + ib * 32 + l * 8;
        const e1 = src[qs + 8 * ib + 2 * l], e2 = src[qs + 8 * ib + 2 * l + 1];
        for (let j = 0; j < 4; j++) {
          const v1 = f(db * grid[e1 * 4 + j]);
          const v2 = f(db * grid[e2 * 4 + j]);
          out[o + j] = (s >> j) & 1 ? -v1 : v1;
          out[o + 4 + j] = (s >> (j + 4)) & 1 ? -v2 : v2;
        }
      }
    }
  }
}

export function dequantizeIQ3_S(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const grid = iqGrid('iq3s') as Uint8Array;
  for (let i = 0; i < nBlocks; i++) {
    const b = i * 110;
    const d = f16ToF32(u16(src, b));
    const qs = b + 2, qh = b + 66, signs = b + 74, scales = b + 106;
    for (let ib = 0; ib < 8; ib++) {
      const db = f(d * (1 + 2 * ((src[scales + (ib >> 1)] >> (4 * (ib & 1))) & 15)));
      for (let l = 0; l < 4; l++) {
        const h = src[qh + ib];
        const e1 = src[qs + 8 * ib + 2 * l] | (((h >> (2 * l)) & 1) << 8);
        const e2 = src[qs + 8 * ib + 2 * l + 1] | (((h >> (2 * l + 1)) & 1) << 8);
        const s = src[signs + 4 * ib + l];
        const o = i * 256 + ib * 32 + l * 8;
        for (let j = 0; j < 4; j++) {
          const v1 = f(db * grid[e1 * 4 + j]);
          const v2 = f(db * grid[e2 * 4 + j]);
          out[o + j] = (s >> j) & 1 ? -v1 : v1;
          out[o + 4 + j] = (s >> (j + 4)) & 1 ? -v2 : v2;
        }
      }
    }
  }
}

export function dequantizeIQ1_S(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const grid = iqGrid('iq1s') as Int8Array;
  for (let i = 0; i < nBlocks; i++) {
    const b = i * 50;
    const d = f16ToF32(u16(src, b));
    const qs = b + 2, qh = b + 34;
    for (let ib = 0; ib < 8; ib++) {
      const h = u16(src, qh + 2 * ib);
      const dl = f(d * (2 * ((h >> 12) & 7) + 1));
      const delta = h & 0x8000 ? -IQ1_DELTA : IQ1_DELTA;
      for (let l = 0; l < 4; l++) {
        const e = src[qs + 4 * ib + l] | (((h >> (3 * l)) & 7) << 8);
        const o = i * 256 + ib * 32 + l * 8;
        for (let j = 0; j < 8; j++) out[o + j] = f(dl * (grid[e * 8 + j] + delta));
      }
    }
  }
}

/** IQ1_M's fp16 super-scale, assembled from the top nibbles of its four u16 scale words at byte `o`. */
export function iq1mScaleBits(src: Uint8Array, o: number): number {
  const s0 = u16(src, o), s1 = u16(src, o + 2), s2 = u16(src, o + 4), s3 = u16(src, o + 6);
  return (s0 >> 12) | ((s1 >> 8) & 0x00f0) | ((s2 >> 4) & 0x0f00) | (s3 & 0xf000);
}

export function dequantizeIQ1_M(src: Uint8Array, out: Float32Array, nBlocks: number): void {
  const grid = iqGrid('iq1s') as Int8Array;
  for (let i = 0; i < nBlocks; i++) {
    const b = i * 56;
    const qs = b, qh = b + 32, scales = b + 48;
    const d = f16ToF32(iq1mScaleBits(src, scales));
    for (let ib = 0; ib < 8; ib++) {
      const sc = u16(src, scales + 2 * (ib >> 1));
      const sh = 6 * (ib & 1);
      const dl = [f(d * (2 * ((sc >> sh) & 7) + 1)), f(d * (2 * ((sc >> (sh + 3)) & 7) + 1))];
      for (let l = 0; l < 4; l++) {
        const h = src[qh + 2 * ib + (l >> 1)] >> (4 * (l & 1));
        const e = src[qs + 4 * ib + l] | ((h & 7) << 8);
        const delta = h & 8 ? -IQ1_DELTA : IQ1_DELTA;
        const o = i * 256 + ib * 32 + l * 8;
        for (let j = 0; j < 8; j++) out[o + j] = f(dl[l >> 1] * (grid[e * 8 + j] + delta));
      }
    }
  }
}
