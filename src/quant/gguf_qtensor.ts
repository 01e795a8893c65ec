// Lossless conversion between ggml blocks and the QTensor type, both ways.
// Integer codes are carried bit for bit (as unsigned codes: ggml's signed codes
// are shifted by their zero point); the f16 fields and integer sub-scales are
// kept in a `GgufOrigin`, so `qtensorToGguf(ggufToQTensor(x))` returns the same
// bytes, and a PEQA tune that changes only d / dmin / m writes back exactly.
// Effective per-group parameters (docs/formats.md §2.1, §2.2):
//   Q4_0, Q5_0, Q8_0   scale = d, offset = −z·d (z = 8, 16, 128)
//   Q4_1, Q5_1         scale = d, offset = m
//   Q2_K, Q4_K, Q5_K   scale = d·sc, offset = −dmin·m     (sub-blocks of 16, 32, 32)
//   Q3_K, Q6_K         scale = d·sc, offset = −z·d·sc      (z = 4, 32; signed sub-scales)
import { BLOCK_FORMATS, GgmlType, type BlockFormat } from './formats.ts';
import { f16Table, f16ToF32, writeU16 } from './f16.ts';
import { emptyQTensor, getCode, groupsPerRow, planeWidths, type QBits, type QTensor } from './qtensor.ts';
import { blockCodes } from './gguf_codes.ts';
import { scaleOffsetParametrization, scaleParametrization, superblockParametrization, type Parametrization } from './parametrize.ts';

export type QuantGgmlType = GgmlType.Q4_0 | GgmlType.Q4_1 | GgmlType.Q5_0 | GgmlType.Q5_1 | GgmlType.Q8_0 | GgmlType.Q2_K | GgmlType.Q3_K | GgmlType.Q4_K | GgmlType.Q5_K | GgmlType.Q6_K;

/** One piece of a code's bits: `width` bits at `shift` of block byte `byte` hold code bits from `codeShift`. */
type Piece = [byte: number, shift: number, width: number, codeShift: number];

interface CodeLayout {
  bits: QBits;
  /** Group (sub-block) size of the effective scale/offset. */
  group: number;
  /** Zero point subtracted from the unsigned code (0 for types with a min). */
  zero: number;
  /** 'legacy-sym' | 'legacy-min' | 'k-min' | 'k-sym' */
  kind: 'legacy-sym' | 'legacy-min' | 'k-min' | 'k-sym';
  pieces(e: number): Piece[];
}

const nib = (base: number, e: number): Piece => [base + (e % 16), e < 16 ? 0 : 4, 4, 0];
// K-quant element decompositions (docs/formats.md §2.1).
const k2 = (e: number) => ({ n: e >> 7, j: (e >> 5) & 3, h: (e >> 4) & 1, l: e & 15 });

const LAYOUTS: Record<QuantGgmlType, CodeLayout> = {
  [GgmlType.Q4_0]: { bits: 4, group: 32, zero: 8, kind: 'legacy-sym', pieces: (e) => [nib(2, e)] },
  [GgmlType.Q4_1]: { bits: 4, group: 32, zero: 0, kind: 'legacy-min', pieces: (e) => [nib(4, e)] },
  [GgmlType.Q5_0]: { bits: 5, group: 32, zero: 16, kind: 'legacy-sym', pieces: (e) => [nib(6, e), [2 + (e >> 3), e & 7, 1, 4]] },
  [GgmlType.Q5_1]: { bits: 5, group: 32, zero: 0, kind: 'legacy-min', pieces: (e) => [nib(8, e), [4 + (e >> 3), e & 7, 1, 4]] },
  // int8 code c stored two's complement: unsigned u = c + 128 is c with the sign bit flipped.
  [GgmlType.Q8_0]: { bits: 8, group: 32, zero: 128, kind: 'legacy-sym', pieces: (e) => [[2 + e, 0, 7, 0], [2 + e, 7, 1, 7]] },
  [GgmlType.Q2_K]: {
    bits: 2, group: 16, zero: 0, kind: 'k-min',
    pieces: (e) => { const { n, j, h, l } = k2(e); return [[16 + 32 * n + 16 * h + l, 2 * j, 2, 0]]; },
  },
  [GgmlType.Q3_K]: {
    bits: 3, group: 16, zero: 4, kind: 'k-sym',
    pieces: (e) => { const { n, j, h, l } = k2(e); return [[32 + 32 * n + 16 * h + l, 2 * j, 2, 0], [16 * h + l, 4 * n + j, 1, 2]]; },
  },
  [GgmlType.Q4_K]: {
    bits: 4, group: 32, zero: 0, kind: 'k-min',
    pieces: (e) => [[16 + 32 * (e >> 6) + (e & 31), 4 * ((e >> 5) & 1), 4, 0]],
  },
  [GgmlType.Q5_K]: {
    bits: 5, group: 32, zero: 0, kind: 'k-min',
    pieces: (e) => { const c = e >> 6, h = (e >> 5) & 1, l = e & 31; return [[48 + 32 * c + l, 4 * h, 4, 0], [16 + l, 2 * c + h, 1, 4]]; },
  },
  [GgmlType.Q6_K]: {
    bits: 6, group: 16, zero: 32, kind: 'k-sym',
    pieces: (e) => { const n = e >> 7, k = (e >> 5) & 3, l = e & 31; return [[64 * n + 32 * (k & 1) + l, 4 * (k >> 1), 4, 0], [128 + 32 * n + l, 2 * k, 2, 4]]; },
  },
};

// The Q8_0 sign-bit piece must be flipped; handled in get/set below.
const FLIP_TOP = GgmlType.Q8_0;

export function isQuantGgmlType(t: number): t is QuantGgmlType {
  return t in LAYOUTS;
}

export interface GgufOrigin {
  type: QuantGgmlType;
  /** Raw f16 bits per block: d, and dmin (K-quants with mins) or m (Q4_1, Q5_1). */
  d: Uint16Array;
  min: Uint16Array | null;
  /** Integer sub-scales and sub-mins per sub-block (K-quants). */
  sc: Int32Array | null;
  m: Int32Array | null;
}

function codeTable(type: QuantGgmlType, blockSize: number): Piece[][] {
  return Array.from({ length: blockSize }, (_, e) => LAYOUTS[type].pieces(e));
}

/**
 * Element e's code of a block of `type`, read through the layout table one bit
 * field at a time: the definition the word-level decoder (gguf_codes.ts) is
 * tested against (src/ref/gguf_codes.ts), and what the writer below inverts.
 */
export function blockCodeAt(type: QuantGgmlType, bytes: Uint8Array, off: number, e: number): number {
  let u = 0;
  for (const [byte, shift, width, cs] of LAYOUTS[type].pieces(e)) u |= ((bytes[off + byte] >> shift) & ((1 << width) - 1)) << cs;
  return type === FLIP_TOP ? u ^ 0x80 : u;
}

/** The code width and group (sub-block) size a block type decodes to. */
export function ggufGrid(type: QuantGgmlType): { bits: QBits; group: number } {
  return { bits: LAYOUTS[type].bits, group: LAYOUTS[type].group };
}

function minField(f: BlockFormat): number | undefined {
  return f.f16Fields?.dmin ?? f.f16Fields?.m;
}

/** Decode a tensor of `rows` × `cols` in ggml blocks into a QTensor and its origin. */
export function ggufToQTensor(type: QuantGgmlType, bytes: Uint8Array, rows: number, cols: number): { q: QTensor; origin: GgufOrigin } {
  const f = BLOCK_FORMATS[type];
  const L = LAYOUTS[type];
  checkGgufBytes(type, bytes, rows, cols);
  const nb = (rows * cols) / f.blockSize;
  const subs = f.blockSize / L.group;
  const origin: GgufOrigin = {
    type,
    d: new Uint16Array(nb),
    min: minField(f) === undefined ? null : new Uint16Array(nb),
    sc: f.scales ? new Int32Array(nb * subs) : null,
    m: f.scales?.mRange ? new Int32Array(nb * subs) : null,
  };
  const q = emptyQTensor(rows, cols, L.bits, L.group);
  decodeGgufInto(type, bytes, q, origin);
  return { q, origin };
}

/** Throws a RangeError unless `bytes` is exactly a rows × cols tensor of `type`'s blocks. */
function checkGgufBytes(type: QuantGgmlType, bytes: Uint8Array, rows: number, cols: number): void {
  const f = BLOCK_FORMATS[type];
  if (cols % f.blockSize !== 0) throw new RangeError(`${f.name}: row length ${cols} is not a multiple of the block size ${f.blockSize}`);
  const nb = (rows * cols) / f.blockSize;
  if (bytes.length !== nb * f.bytesPerBlock) throw new RangeError(`${f.name}: ${bytes.length} bytes for ${rows}×${cols} (expected ${nb * f.bytesPerBlock})`);
}

/**
 * Decode ggml blocks into an existing QTensor of the type's grid (`ggufGrid`),
 * overwriting every code word, scale and offset; and into `origin` unless it is
 * null (an upload that never trains needs no origin: loading skips it). The
 * load path reuses one QTensor per shape across tensors (src/model/decode_scratch.ts),
 * so no fresh pages are touched per tensor.
 */
export function decodeGgufInto(type: QuantGgmlType, bytes: Uint8Array, q: QTensor, origin: GgufOrigin | null): void {
  const f = BLOCK_FORMATS[type];
  const L = LAYOUTS[type];
  const { rows, cols } = q;
  checkGgufBytes(type, bytes, rows, cols);
  if (q.bits !== L.bits || q.groupSize !== L.group) throw new RangeError(`${f.name}: the QTensor grid (${q.bits}-bit, group ${q.groupSize}) is not this type's`);
  const bs = f.blockSize, bpb = f.bytesPerBlock;
  const nb = (rows * cols) / bs;
  const subs = bs / L.group;
  // Every code field starts at an even byte (gguf_codes.ts): read through a 16-bit view of the bytes.
  const h = bytes.byteOffset % 2 === 0 ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 1) : new Uint16Array(bytes.slice().buffer, 0, bytes.length >>> 1);
  const perRow = cols / bs;
  const wpr = (cols / 32) * L.bits;
  const plane1 = (cols / 32) * planeWidths(L.bits)[0];
  for (let b = 0, r = 0, c = 0; b < nb; b++) {
    blockCodes(type, h, b * bpb, q.codes, r * wpr, c * (bs / 32), plane1);
    if (++c === perRow) (c = 0), r++;
  }
  // Effective scale and offset per group (the table in the header); f32 products as C computes them.
  // Block b's groups are b·subs.. in both (groups run along a row, and a row is whole blocks). One loop per kind.
  const f16 = f16Table();
  const fr = Math.fround;
  const { scale, offset } = q;
  const dOff = f.f16Fields!.d;
  const mOff = minField(f);
  const dAt = (o: number) => bytes[o + dOff] | (bytes[o + dOff + 1] << 8);
  const mAt = (o: number) => bytes[o + mOff!] | (bytes[o + mOff! + 1] << 8);
  if (origin) {
    for (let b = 0; b < nb; b++) origin.d[b] = dAt(b * bpb);
    if (mOff !== undefined) for (let b = 0; b < nb; b++) origin.min![b] = mAt(b * bpb);
  }
  if (L.kind === 'legacy-sym') {
    for (let b = 0; b < nb; b++) {
      const d = f16[dAt(b * bpb)];
      scale[b] = d;
      offset[b] = fr(-L.zero * d);
    }
    return;
  }
  if (L.kind === 'legacy-min') {
    for (let b = 0; b < nb; b++) {
      scale[b] = f16[dAt(b * bpb)];
      offset[b] = f16[mAt(b * bpb)];
    }
    return;
  }
  const codec = f.scales!;
  const sc = new Int32Array(16);
  const mn = new Int32Array(16);
  const withMin = L.kind === 'k-min';
  for (let b = 0, g = 0; b < nb; b++, g += subs) {
    const o = b * bpb;
    codec.decode(bytes, o, sc, withMin ? mn : null);
    const d = f16[dAt(o)];
    if (withMin) {
      const mv = f16[mAt(o)];
      for (let s = 0; s < subs; s++) {
        scale[g + s] = fr(d * sc[s]);
        offset[g + s] = -fr(mv * mn[s]);
      }
    } else
      for (let s = 0; s < subs; s++) {
        const sv = fr(d * sc[s]);
        scale[g + s] = sv;
        offset[g + s] = fr(-L.zero * sv);
      }
    if (origin) {
      origin.sc!.set(sc.subarray(0, subs), g);
      if (origin.m) origin.m.set(mn.subarray(0, subs), g);
    }
  }
}

/** Write a QTensor back as ggml blocks: codes from the QTensor, f16 fields and sub-scales from the origin. */
export function qtensorToGguf(q: QTensor, origin: GgufOrigin): Uint8Array {
  const type = origin.type;
  const f = BLOCK_FORMATS[type];
  const L = LAYOUTS[type];
  const bs = f.blockSize;
  if (q.bits !== L.bits || q.groupSize !== L.group || q.cols % bs !== 0) throw new RangeError(`${f.name}: the QTensor grid (${q.bits}-bit, group ${q.groupSize}) is not this type's`);
  const nb = (q.rows * q.cols) / bs;
  if (origin.d.length !== nb) throw new RangeError(`${f.name}: origin has ${origin.d.length} blocks, tensor ${nb}`);
  const out = new Uint8Array(nb * f.bytesPerBlock);
  const table = codeTable(type, bs);
  const subs = bs / L.group;
  const mOff = minField(f);
  const perRow = q.cols / bs;
  for (let b = 0; b < nb; b++) {
    const off = b * f.bytesPerBlock;
    const r = Math.floor(b / perRow);
    const c0 = (b % perRow) * bs;
    writeU16(out, off + f.f16Fields!.d, origin.d[b]);
    if (mOff !== undefined) writeU16(out, off + mOff, origin.min![b]);
    if (f.scales) f.scales.encode(origin.sc!.subarray(b * subs, (b + 1) * subs), origin.m ? origin.m.subarray(b * subs, (b + 1) * subs) : null, out, off);
    for (let e = 0; e < bs; e++) {
      let u = getCode(q, r, c0 + e);
      if (type === FLIP_TOP) u ^= 0x80;
      for (const [byte, shift, width, cs] of table[e]) out[off + byte] |= ((u >> cs) & ((1 << width) - 1)) << shift;
    }
  }
  return out;
}

/**
 * The trainable view that keeps a GGUF tensor exportable to its own type:
 * legacy types with a fixed zero point train d ('scale'), Q4_1/Q5_1 train d and m
 * ('scale+offset'), K-quants train only each super-block's d (and dmin).
 */
export function ggufParametrization(q: QTensor, origin: GgufOrigin): Parametrization {
  const L = LAYOUTS[origin.type];
  if (L.kind === 'legacy-sym') return scaleParametrization(q);
  if (L.kind === 'legacy-min') return scaleOffsetParametrization(q);
  const toF32 = (bits: Uint16Array) => Float32Array.from(bits, f16ToF32);
  const perSuper = BLOCK_FORMATS[origin.type].blockSize / L.group;
  return superblockParametrization(toF32(origin.d), origin.min && toF32(origin.min), origin.sc!, origin.m, perSuper, L.zero);
}
