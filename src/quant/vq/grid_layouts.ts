// The block layouts of the lattice-grid i-quants (formats-2.md §1.2–1.3): for
// each type, how one 256-weight block reads into and writes from a scratch of
// vector indices, sign words and integer sub-scales, and the sub-scale
// multiplier a(s). The codec machinery over them is grid_codecs.ts.
import { GgmlType } from '../formats.ts';
import { ksignsIq2xs, type IqGridName } from '../blocks/iq_grids.ts';
import { iq1mScaleBits } from '../blocks/iquants.ts';
import type { VqIndexBits } from './vqtensor.ts';

export const QK = 256;
export const u16 = (s: Uint8Array, o: number) => s[o] | (s[o + 1] << 8);
const u32 = (s: Uint8Array, o: number) => (s[o] | (s[o + 1] << 8) | (s[o + 2] << 16) | (s[o + 3] << 24)) >>> 0;
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 255;
  b[o + 1] = (v >>> 8) & 255;
}
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 255;
  b[o + 1] = (v >>> 8) & 255;
  b[o + 2] = (v >>> 16) & 255;
  b[o + 3] = (v >>> 24) & 255;
}

/** Per-block scratch: indices (vector order), sign words (one per 32 weights), integer sub-scales (group order). */
export interface Scratch {
  idx: Uint16Array;
  sg: Uint32Array;
  sub: Int32Array;
}

export interface GridSpec {
  type: GgmlType;
  name: string;
  bytes: number;
  grid: IqGridName;
  dim: 4 | 8;
  signed: boolean;
  group: number;
  indexBits: VqIndexBits;
  /** Sub-scale s ∈ [0, sMax]; multiplier a(s) = c0 + c1·s. */
  sMax: number;
  c0: number;
  c1: number;
  /** Read block at `o`: fills the scratch, returns the fp16 bits of d. */
  read(src: Uint8Array, o: number, s: Scratch): number;
  /** Write block at `o` (bytes zeroed) from the scratch and d bits. */
  write(out: Uint8Array, o: number, s: Scratch, dBits: number): void;
}

/** The 7 sign bits stored for an 8-bit sign byte of even parity (ksigns_iq2xs inverse). */
function ksignIndex(name: string, byte: number): number {
  if (ksignsIq2xs()[byte & 127] !== byte) throw new RangeError(`${name}: sign byte 0x${byte.toString(16)} has odd parity; the format stores only even-parity signs`);
  return byte & 127;
}

function checkSub(name: string, v: number, max: number): number {
  if (!(Number.isInteger(v) && v >= 0 && v <= max)) throw new RangeError(`${name}: sub-scale ${v} is outside 0..${max}`);
  return v;
}

const IQ2_XXS: GridSpec = {
  type: GgmlType.IQ2_XXS, name: 'IQ2_XXS', bytes: 66, grid: 'iq2xxs', dim: 8, signed: true, group: 32, indexBits: 8, sMax: 15, c0: 0.125, c1: 0.25,
  read(src, o, s) {
    const ks = ksignsIq2xs();
    for (let ib = 0; ib < 8; ib++) {
      const q = o + 2 + 8 * ib;
      const a1 = u32(src, q + 4);
      for (let l = 0; l < 4; l++) s.idx[4 * ib + l] = src[q + l];
      s.sg[ib] = (ks[a1 & 127] | (ks[(a1 >>> 7) & 127] << 8) | (ks[(a1 >>> 14) & 127] << 16) | (ks[(a1 >>> 21) & 127] << 24)) >>> 0;
      s.sub[ib] = a1 >>> 28;
    }
    return u16(src, o);
  },
  write(out, o, s, dBits) {
    put16(out, o, dBits);
    for (let ib = 0; ib < 8; ib++) {
      const q = o + 2 + 8 * ib;
      let a1 = checkSub('IQ2_XXS', s.sub[ib], 15) << 28;
      for (let l = 0; l < 4; l++) {
        out[q + l] = s.idx[4 * ib + l];
        a1 |= ksignIndex('IQ2_XXS', (s.sg[ib] >>> (8 * l)) & 255) << (7 * l);
      }
      put32(out, q + 4, a1 >>> 0);
    }
  },
};

const IQ2_XS: GridSpec = {
  type: GgmlType.IQ2_XS, name: 'IQ2_XS', bytes: 74, grid: 'iq2xs', dim: 8, signed: true, group: 16, indexBits: 16, sMax: 15, c0: 0.125, c1: 0.25,
  read(src, o, s) {
    const ks = ksignsIq2xs();
    for (let ib = 0; ib < 8; ib++) {
      let w = 0;
      for (let l = 0; l < 4; l++) {
        const q = u16(src, o + 2 + 2 * (4 * ib + l));
        s.idx[4 * ib + l] = q & 511;
        w |= ks[q >>> 9] << (8 * l);
      }
      s.sg[ib] = w >>> 0;
      const sc = src[o + 66 + ib];
      s.sub[2 * ib] = sc & 15;
      s.sub[2 * ib + 1] = sc >> 4;
    }
    return u16(src, o);
  },
  write(out, o, s, dBits) {
    put16(out, o, dBits);
    for (let ib = 0; ib < 8; ib++) {
      for (let l = 0; l < 4; l++) put16(out, o + 2 + 2 * (4 * ib + l), s.idx[4 * ib + l] | (ksignIndex('IQ2_XS', (s.sg[ib] >>> (8 * l)) & 255) << 9));
      out[o + 66 + ib] = checkSub('IQ2_XS', s.sub[2 * ib], 15) | (checkSub('IQ2_XS', s.sub[2 * ib + 1], 15) << 4);
    }
  },
};

const IQ2_S: GridSpec = {
  type: GgmlType.IQ2_S, name: 'IQ2_S', bytes: 82, grid: 'iq2s', dim: 8, signed: true, group: 16, indexBits: 16, sMax: 15, c0: 0.125, c1: 0.25,
  read(src, o, s) {
    for (let ib = 0; ib < 8; ib++) {
      const h = src[o + 66 + ib];
      for (let l = 0; l < 4; l++) s.idx[4 * ib + l] = src[o + 2 + 4 * ib + l] | (((h >> (2 * l)) & 3) << 8);
      s.sg[ib] = u32(src, o + 34 + 4 * ib);
      const sc = src[o + 74 + ib];
      s.sub[2 * ib] = sc & 15;
      s.sub[2 * ib + 1] = sc >> 4;
    }
    return u16(src, o);
  },
  write(out, o, s, dBits) {
    put16(out, o, dBits);
    for (let ib = 0; ib < 8; ib++) {
      let h = 0;
      for (let l = 0; l < 4; l++) {
        const e = s.idx[4 * ib + l];
        out[o + 2 + 4 * ib + l] = e & 255;
        h |= (e >> 8) << (2 * l);
      }
      out[o + 66 + ib] = h;
      put32(out, o + 34 + 4 * ib, s.sg[ib]);
      out[o + 74 + ib] = checkSub('IQ2_S', s.sub[2 * ib], 15) | (checkSub('IQ2_S', s.sub[2 * ib + 1], 15) << 4);
    }
  },
};

const IQ3_XXS: GridSpec = {
  type: GgmlType.IQ3_XXS, name: 'IQ3_XXS', bytes: 98, grid: 'iq3xxs', dim: 4, signed: true, group: 32, indexBits: 8, sMax: 15, c0: 0.25, c1: 0.5,
  read(src, o, s) {
    const ks = ksignsIq2xs();
    for (let v = 0; v < 64; v++) s.idx[v] = src[o + 2 + v];
    for (let ib = 0; ib < 8; ib++) {
      const w = u32(src, o + 66 + 4 * ib);
      s.sg[ib] = (ks[w & 127] | (ks[(w >>> 7) & 127] << 8) | (ks[(w >>> 14) & 127] << 16) | (ks[(w >>> 21) & 127] << 24)) >>> 0;
      s.sub[ib] = w >>> 28;
    }
    return u16(src, o);
  },
  write(out, o, s, dBits) {
    put16(out, o, dBits);
    for (let v = 0; v < 64; v++) out[o + 2 + v] = s.idx[v];
    for (let ib = 0; ib < 8; ib++) {
      let w = checkSub('IQ3_XXS', s.sub[ib], 15) << 28;
      for (let l = 0; l < 4; l++) w |= ksignIndex('IQ3_XXS', (s.sg[ib] >>> (8 * l)) & 255) << (7 * l);
      put32(out, o + 66 + 4 * ib, w >>> 0);
    }
  },
};

const IQ3_S: GridSpec = {
  type: GgmlType.IQ3_S, name: 'IQ3_S', bytes: 110, grid: 'iq3s', dim: 4, signed: true, group: 32, indexBits: 16, sMax: 15, c0: 1, c1: 2,
  read(src, o, s) {
    for (let ib = 0; ib < 8; ib++) {
      const h = src[o + 66 + ib];
      for (let m = 0; m < 8; m++) s.idx[8 * ib + m] = src[o + 2 + 8 * ib + m] | (((h >> m) & 1) << 8);
      s.sg[ib] = u32(src, o + 74 + 4 * ib);
      s.sub[ib] = (src[o + 106 + (ib >> 1)] >> (4 * (ib & 1))) & 15;
    }
    return u16(src, o);
  },
  write(out, o, s, dBits) {
    put16(out, o, dBits);
    for (let ib = 0; ib < 8; ib++) {
      let h = 0;
      for (let m = 0; m < 8; m++) {
        const e = s.idx[8 * ib + m];
        out[o + 2 + 8 * ib + m] = e & 255;
        h |= (e >> 8) << m;
      }
      out[o + 66 + ib] = h;
      put32(out, o + 74 + 4 * ib, s.sg[ib]);
      out[o + 106 + (ib >> 1)] |= checkSub('IQ3_S', s.sub[ib], 15) << (4 * (ib & 1));
    }
  },
};

const IQ1_S: GridSpec = {
  type: GgmlType.IQ1_S, name: 'IQ1_S', bytes: 50, grid: 'iq1s', dim: 8, signed: false, group: 32, indexBits: 16, sMax: 7, c0: 1, c1: 2,
  read(src, o, s) {
    for (let ib = 0; ib < 8; ib++) {
      const h = u16(src, o + 34 + 2 * ib);
      const neg = h & 0x8000 ? 2048 : 0;
      for (let l = 0; l < 4; l++) s.idx[4 * ib + l] = (src[o + 2 + 4 * ib + l] | (((h >> (3 * l)) & 7) << 8)) + neg;
      s.sub[ib] = (h >> 12) & 7;
    }
    return u16(src, o);
  },
  write(out, o, s, dBits) {
    put16(out, o, dBits);
    for (let ib = 0; ib < 8; ib++) {
      const neg = s.idx[4 * ib] >> 11;
      let h = (checkSub('IQ1_S', s.sub[ib], 7) << 12) | (neg << 15);
      for (let l = 0; l < 4; l++) {
        const e = s.idx[4 * ib + l];
        if (e >> 11 !== neg) throw new RangeError(`IQ1_S: the vectors of a 32-weight sub-block must share the sign of the ±1/8 delta`);
        out[o + 2 + 4 * ib + l] = e & 255;
        h |= ((e >> 8) & 7) << (3 * l);
      }
      put16(out, o + 34 + 2 * ib, h);
    }
  },
};

const IQ1_M: GridSpec = {
  type: GgmlType.IQ1_M, name: 'IQ1_M', bytes: 56, grid: 'iq1s', dim: 8, signed: false, group: 16, indexBits: 16, sMax: 7, c0: 1, c1: 2,
  read(src, o, s) {
    for (let ib = 0; ib < 8; ib++) {
      for (let l = 0; l < 4; l++) {
        const h = (src[o + 32 + 2 * ib + (l >> 1)] >> (4 * (l & 1))) & 15;
        s.idx[4 * ib + l] = (src[o + 4 * ib + l] | ((h & 7) << 8)) + (h & 8 ? 2048 : 0);
      }
      const sc = u16(src, o + 48 + 2 * (ib >> 1));
      const sh = 6 * (ib & 1);
      s.sub[2 * ib] = (sc >> sh) & 7;
      s.sub[2 * ib + 1] = (sc >> (sh + 3)) & 7;
    }
    return iq1mScaleBits(src, o + 48);
  },
  write(out, o, s, dBits) {
    for (let ib = 0; ib < 8; ib++)
      for (let l = 0; l < 4; l++) {
        const e = s.idx[4 * ib + l];
        out[o + 4 * ib + l] = e & 255;
        out[o + 32 + 2 * ib + (l >> 1)] |= (((e >> 8) & 7) | ((e >> 11) << 3)) << (4 * (l & 1));
      }
    for (let k = 0; k < 4; k++) {
      let w = ((dBits >> (4 * k)) & 15) << 12;
      for (let j = 0; j < 4; j++) w |= checkSub('IQ1_M', s.sub[4 * k + j], 7) << (3 * j);
      put16(out, o + 48 + 2 * k, w);
    }
  },
};

export const SPECS: readonly GridSpec[] = [IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S];
