// Codecs of the lattice-grid i-quants (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S,
// IQ3_XXS, IQ3_S): ggml blocks ⇄ VqTensor, losslessly (formats-2.md §1.2–1.3).
//   type     table (entries × dim)      signs                 group  sub-scale multiplier a(s)
//   IQ2_XXS  iq2xxs (256 × 8)           7-bit ksigns, parity  32     (0.5 + s)·0.25, s ∈ 0..15
//   IQ2_XS   iq2xs (512 × 8)            7-bit ksigns, parity  16     (0.5 + s)·0.25
//   IQ2_S    iq2s (1024 × 8)            explicit bytes        16     (0.5 + s)·0.25
//   IQ3_XXS  iq3xxs (256 × 4)           7-bit ksigns, parity  32     (0.5 + s)·0.5
//   IQ3_S    iq3s (512 × 4)             explicit bytes        32     1 + 2s
//   IQ1_S    iq1s ± 1/8 (4096 × 8)      none                  32     1 + 2s, s ∈ 0..7
//   IQ1_M    iq1s ± 1/8 (4096 × 8)      none                  16     1 + 2s, s ∈ 0..7
// Each group's scale is round_f32(d·a(s)) with d the block's fp16 scale: the
// value ggml computes (d·(0.5+s) has at most 16 significant bits, so the extra
// ·0.25 / ·0.5 rounds nothing). IQ1's ±1/8 delta is folded into the table
// (entries 2048.. are grid − 1/8), see vqtensor.ts; IQ1_S stores one delta bit
// per 32 weights, so encode requires the four indices of a sub-block to agree.
// Blocks are decoded one at a time into a small scratch of indices, sign words
// (one u32 per 32 weights: 4 sign bytes) and sub-scales, then packed by words.
import { f16ToF32, f32ToF16 } from '../f16.ts';
import { GgmlType } from '../formats.ts';
import { IQ1_DELTA, iqGrid, ksignsIq2xs, type IqGridName } from '../blocks/iq_grids.ts';
import { iq1mScaleBits } from '../blocks/iquants.ts';
import { superblockParametrization, type Parametrization } from '../parametrize.ts';
import type { VqCodec, VqOrigin } from './codec.ts';
import { emptyVqTensor, vqIndexWords, vqWordsPerRow, type Codebook, type VqIndexBits, type VqTensor } from './vqtensor.ts';

const QK = 256;
const u16 = (s: Uint8Array, o: number) => s[o] | (s[o + 1] << 8);
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
interface Scratch {
  idx: Uint16Array;
  sg: Uint32Array;
  sub: Int32Array;
}

interface GridSpec {
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

const SPECS: readonly GridSpec[] = [IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S];

const books = new Map<IqGridName, Codebook>();

/** The VqTensor codebook of a grid: its values as f32; iq1s doubled to 4096 entries with the ±1/8 delta folded in. */
export function gridCodebook(name: IqGridName): Codebook {
  let b = books.get(name);
  if (b) return b;
  const g = iqGrid(name);
  const dim = name === 'iq3xxs' || name === 'iq3s' ? 4 : 8;
  let values: Float32Array;
  if (name === 'iq1s') {
    values = new Float32Array(2 * g.length);
    for (let i = 0; i < g.length; i++) {
      values[i] = g[i] + IQ1_DELTA;
      values[g.length + i] = g[i] - IQ1_DELTA;
    }
  } else values = Float32Array.from(g);
  b = { name, dim, size: values.length / dim, values };
  books.set(name, b);
  return b;
}

function geometry(spec: GridSpec, bytesLength: number, rows: number, cols: number): number {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) throw new RangeError(`${spec.name}: bad shape [${rows}, ${cols}]`);
  if (cols % QK !== 0) throw new RangeError(`${spec.name}: row length ${cols} is not a multiple of the block size ${QK}`);
  const nb = (rows * cols) / QK;
  if (bytesLength !== nb * spec.bytes) throw new RangeError(`${spec.name}: ${bytesLength} bytes for ${rows}×${cols} (expected ${nb * spec.bytes})`);
  return nb;
}

const mul = (spec: GridSpec, s: number) => spec.c0 + spec.c1 * s;

function makeCodec(spec: GridSpec): VqCodec {
  const subs = QK / spec.group;
  const vecs = QK / spec.dim;
  const idxWordsPerBlock = (vecs * spec.indexBits) / 32;
  const perWord = 32 / spec.indexBits;
  const scratch = (): Scratch => ({ idx: new Uint16Array(vecs), sg: new Uint32Array(8), sub: new Int32Array(subs) });
  // a(s) for every s, and round_f32(d·a(s)) is then one product (exact in f64, one rounding).
  const A = Float64Array.from({ length: spec.sMax + 1 }, (_, s) => mul(spec, s));

  function decode(bytes: Uint8Array, rows: number, cols: number): { q: VqTensor; origin: VqOrigin } {
    const nb = geometry(spec, bytes.length, rows, cols);
    const q = emptyVqTensor(rows, cols, gridCodebook(spec.grid), spec.group, spec.signed, spec.indexBits);
    const sub = new Int32Array(nb * subs);
    const origin: VqOrigin = { type: spec.type, d: new Uint16Array(nb), sub };
    const wpr = vqWordsPerRow(q);
    const iw = vqIndexWords(q);
    const bpr = cols / QK;
    const s = scratch();
    const { codes, scale } = q;
    const shift = spec.indexBits;
    for (let B = 0; B < nb; B++) {
      const r = Math.floor(B / bpr);
      const bi = B - r * bpr;
      const dBits = spec.read(bytes, B * spec.bytes, s);
      origin.d[B] = dBits;
      const d = f16ToF32(dBits);
      for (let j = 0; j < subs; j++) {
        sub[B * subs + j] = s.sub[j];
        scale[B * subs + j] = d * A[s.sub[j]];
      }
      let w = r * wpr + bi * idxWordsPerBlock;
      for (let v = 0; v < vecs; v += perWord, w++) {
        let x = 0;
        for (let k = 0; k < perWord; k++) x |= s.idx[v + k] << (k * shift);
        codes[w] = x >>> 0;
      }
      if (spec.signed) codes.set(s.sg, r * wpr + iw + bi * 8);
    }
    return { q, origin };
  }

  function checkOrigin(origin: VqOrigin, nb: number): void {
    if (origin.type !== spec.type) throw new RangeError(`${spec.name}: origin is of type ${GgmlType[origin.type]}`);
    if (origin.d.length !== nb || !origin.sub || origin.sub.length !== nb * subs)
      throw new RangeError(`${spec.name}: origin has ${origin.d.length} blocks and ${origin.sub?.length ?? 0} sub-scales, tensor ${nb} and ${nb * subs}`);
  }

  function encode(q: VqTensor, origin: VqOrigin): Uint8Array {
    const { rows, cols } = q;
    if (cols % QK !== 0) throw new RangeError(`${spec.name}: row length ${cols} is not a multiple of the block size ${QK}`);
    if (q.codebook.dim !== spec.dim || q.indexBits !== spec.indexBits || q.signed !== spec.signed || q.groupSize !== spec.group)
      throw new RangeError(`${spec.name}: the tensor's layout (table ${q.codebook.name}, ${q.indexBits}-bit indices) is not this type's`);
    const nb = (rows * cols) / QK;
    checkOrigin(origin, nb);
    const out = new Uint8Array(nb * spec.bytes);
    const wpr = vqWordsPerRow(q);
    const iw = vqIndexWords(q);
    const bpr = cols / QK;
    const s = scratch();
    const mask = (2 ** spec.indexBits - 1) >>> 0;
    const size = q.codebook.size;
    for (let B = 0; B < nb; B++) {
      const r = Math.floor(B / bpr);
      const bi = B - r * bpr;
      let w = r * wpr + bi * idxWordsPerBlock;
      for (let v = 0; v < vecs; v += perWord, w++) {
        const x = q.codes[w];
        for (let k = 0; k < perWord; k++) {
          const e = (x >>> (k * spec.indexBits)) & mask;
          if (e >= size) throw new RangeError(`${spec.name}: index ${e} is outside the ${size}-entry table`);
          s.idx[v + k] = e;
        }
      }
      if (spec.signed) for (let k = 0; k < 8; k++) s.sg[k] = q.codes[r * wpr + iw + bi * 8 + k];
      for (let j = 0; j < subs; j++) s.sub[j] = origin.sub![B * subs + j];
      spec.write(out, B * spec.bytes, s, origin.d[B]);
    }
    return out;
  }

  function exactView(_q: VqTensor, origin: VqOrigin): Parametrization {
    const a = Float32Array.from(origin.sub!, (s) => mul(spec, s));
    return superblockParametrization(Float32Array.from(origin.d, f16ToF32), null, a, null, subs);
  }

  function withExactTheta(origin: VqOrigin, theta: ArrayLike<number>): VqOrigin {
    if (theta.length !== origin.d.length) throw new RangeError(`${spec.name}: θ has ${theta.length} values, the tensor ${origin.d.length} blocks`);
    return { type: origin.type, d: Uint16Array.from(theta, (x) => f32ToF16(x)), sub: origin.sub && origin.sub.slice() };
  }

  function refit(origin: VqOrigin, target: Float32Array): { origin: VqOrigin; maxRelErr: number } {
    const nb = origin.d.length;
    checkOrigin(origin, nb);
    if (target.length !== nb * subs) throw new RangeError(`${spec.name}: ${target.length} target scales for ${nb * subs} groups`);
    const out: VqOrigin = { type: origin.type, d: origin.d.slice(), sub: origin.sub!.slice() };
    const cand: number[] = [];
    const best = new Int32Array(subs);
    const trial = new Int32Array(subs);
    let maxRel = 0;
    // The error of group j for d (f32 value) and sub-scale s, relative to its target (or to the block's largest target when it is 0).
    const relErr = (t: number, d: number, s: number, big: number) => {
      const fit = Math.fround(d * A[s]);
      const den = t !== 0 ? Math.abs(t) : big;
      return fit === t ? 0 : den === 0 ? Infinity : Math.abs(fit - t) / den;
    };
    for (let B = 0; B < nb; B++) {
      const g0 = B * subs;
      let tMax = 0;
      for (let j = 0; j < subs; j++) if (Math.abs(target[g0 + j]) > Math.abs(tMax)) tMax = target[g0 + j];
      const big = Math.abs(tMax);
      cand.length = 0;
      cand.push(origin.d[B]);
      for (let s = 0; s <= spec.sMax; s++) {
        const bits = f32ToF16(tMax / A[s]);
        cand.push(bits);
        if ((bits & 0x7fff) > 0) cand.push(bits - 1);
        if ((bits & 0x7fff) < 0x7bff) cand.push(bits + 1);
      }
      let bestErr = Infinity;
      let bestBits = origin.d[B];
      for (let c = 0; c < cand.length; c++) {
        const d = f16ToF32(cand[c]);
        if (!Number.isFinite(d)) continue;
        let worst = 0;
        for (let j = 0; j < subs; j++) {
          const t = target[g0 + j];
          let s = d === 0 ? 0 : Math.round((t / d - spec.c0) / spec.c1);
          s = Math.min(spec.sMax, Math.max(0, Number.isFinite(s) ? s : 0));
          let e = relErr(t, d, s, big);
          // Keep the stored sub-scale where it does as well (so an unchanged target returns the origin).
          const s0 = origin.sub![g0 + j];
          const e0 = relErr(t, d, s0, big);
          if (e0 <= e) {
            s = s0;
            e = e0;
          }
          trial[j] = s;
          if (e > worst) worst = e;
          if (worst >= bestErr) break;
        }
        if (worst < bestErr) {
          bestErr = worst;
          bestBits = cand[c];
          best.set(trial);
          if (worst === 0) break;
        }
      }
      if (bestErr === Infinity) {
        // No finite fit (targets beyond fp16): keep the block as stored and report it.
        maxRel = Infinity;
        continue;
      }
      out.d[B] = bestBits;
      out.sub!.set(best, g0);
      if (bestErr > maxRel) maxRel = bestErr;
    }
    return { origin: out, maxRelErr: maxRel };
  }

  return { type: spec.type, blockSize: QK, bytesPerBlock: spec.bytes, decode, encode, exactView, withExactTheta, refit };
}

export const GRID_CODECS: readonly VqCodec[] = SPECS.map(makeCodec);
