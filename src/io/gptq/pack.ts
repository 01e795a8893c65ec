// GPTQ tensors ⇄ QTensor (formats.md §4). A GPTQ linear stores, for W [O, I]:
//   qweight I32 [I·bits/32, O]   codes packed along `in`, column by column
//   qzeros  I32 [G, O·bits/32]   zero points packed along `out`, row by row
//   scales  F16 [G, O]           g_idx I32 [I] (group of each input, i // group_size)
// and W[o, i] = scale·(q − Z). Every bit width packs as one contiguous
// little-endian bit stream (code k at stream bits [bits·k, bits·k + bits)), so
// 3-bit codes 10 and 21 of every 32 straddle words; that is what AutoGPTQ's
// word-by-word 3-bit packer produces (§4.2). v1 ('gptq') stores Z − 1, v2
// ('gptq_v2') stores Z (§4.3).
// The QTensor side is w = scale·q + offset, so GPTQ needs offset = −Z·scale with
// Z an integer in the packable range: sub4's RTN grids and PEQA-tuned scales
// (the zero point stays fixed while the scale trains) are exactly that.
import { FormatError, UnsupportedError } from '../../base/errors.ts';
import { f16Table, f32ToF16 } from '../../quant/f16.ts';
import { QGROUPS, checkQShape, emptyQTensor, groupsPerRow, planeWidths, wordsPerRow, type QBits, type QTensor } from '../../quant/qtensor.ts';

export const GPTQ_BITS = [2, 3, 4, 8] as const;
export type GptqBits = (typeof GPTQ_BITS)[number];
export type GptqFormat = 'gptq' | 'gptq_v2';

/** A GPTQ checkpoint whose tensors are malformed: names the file and the tensor. */
export class GptqError extends FormatError {}

export interface GptqPacked {
  /** [I·bits/32, O]. */
  qweight: Int32Array;
  /** [G, O·bits/32]. */
  qzeros: Int32Array;
  /** f16 bits [G, O]. */
  scales: Uint16Array;
  /** [I]: i // groupSize. */
  g_idx: Int32Array;
}

export const isGptqBits = (b: number): b is GptqBits => (GPTQ_BITS as readonly number[]).includes(b);

/** Why this layer's shape cannot be a GPTQ layer (null: it can). */
export function gptqLayoutProblem(q: Pick<QTensor, 'rows' | 'cols' | 'bits' | 'groupSize'>): string | null {
  if (!isGptqBits(q.bits)) return `${q.bits}-bit codes (GPTQ loaders take 2, 3, 4 or 8 bits)`;
  if ((q.cols * q.bits) % 32 !== 0) return `in_features ${q.cols} × ${q.bits} bits is not a multiple of 32 (qweight packs whole int32 words along in)`;
  if ((q.rows * q.bits) % 32 !== 0) return `out_features ${q.rows} × ${q.bits} bits is not a multiple of 32 (qzeros packs whole int32 words along out)`;
  if (q.cols % q.groupSize !== 0) return `in_features ${q.cols} is not a multiple of the group size ${q.groupSize} (GPTQ groups are whole)`;
  return null;
}

/** The group size GPTQ's config names for a layer: −1 for one group per row. */
export const gptqGroupSize = (q: Pick<QTensor, 'cols' | 'groupSize'>): number => (q.groupSize >= q.cols ? -1 : q.groupSize);

/** Codes of row r of a QTensor, decoded from its bit planes (src/quant/qtensor.ts) into `out`. */
export function readRowCodes(q: QTensor, r: number, out: Uint8Array): void {
  const [p0, p1] = planeWidths(q.bits);
  const base = r * wordsPerRow(q.cols, q.bits);
  const base1 = base + Math.ceil(q.cols / 32) * p0;
  const m0 = (1 << p0) - 1;
  const m1 = (1 << p1) - 1;
  const c = q.codes;
  for (let k = 0; k < q.cols; k++) {
    let v = (c[base + ((k * p0) >>> 5)] >>> ((k * p0) & 31)) & m0;
    if (p1) v |= ((c[base1 + ((k * p1) >>> 5)] >>> ((k * p1) & 31)) & m1) << p0;
    out[k] = v;
  }
}

/** Store `codes` as row r of a QTensor whose row is still all zero bits. */
function writeRowCodes(q: QTensor, r: number, codes: Uint8Array): void {
  const [p0, p1] = planeWidths(q.bits);
  const base = r * wordsPerRow(q.cols, q.bits);
  const base1 = base + Math.ceil(q.cols / 32) * p0;
  const m0 = (1 << p0) - 1;
  const c = q.codes;
  for (let k = 0; k < q.cols; k++) {
    const v = codes[k];
    c[base + ((k * p0) >>> 5)] |= (v & m0) << ((k * p0) & 31);
    if (p1) c[base1 + ((k * p1) >>> 5)] |= (v >>> p0) << ((k * p1) & 31);
  }
}

// One little-endian bit stream laid over int32 words[base + w·stride], w = 0, 1, …
function streamPut(words: Int32Array, base: number, stride: number, k: number, bits: number, v: number): void {
  const p = k * bits;
  const w = p >>> 5;
  const s = p & 31;
  words[base + w * stride] |= v << s;
  if (s + bits > 32) words[base + (w + 1) * stride] |= v >>> (32 - s);
}

function streamGet(words: Int32Array, base: number, stride: number, k: number, bits: number): number {
  const p = k * bits;
  const w = p >>> 5;
  const s = p & 31;
  let v = words[base + w * stride] >>> s;
  if (s + bits > 32) v |= words[base + (w + 1) * stride] << (32 - s);
  return v & ((1 << bits) - 1);
}

/** qweight [I·bits/32, O]: column o is the bit stream of row o's codes. */
export function packQweight(q: QTensor): Int32Array {
  const O = q.rows;
  const out = new Int32Array(((q.cols * q.bits) / 32) * O);
  const row = new Uint8Array(q.cols);
  for (let o = 0; o < O; o++) {
    readRowCodes(q, o, row);
    for (let k = 0; k < q.cols; k++) streamPut(out, o, O, k, q.bits, row[k]);
  }
  return out;
}

/** qzeros [G, O·bits/32] from zero points in the QTensor's [O, G] order; v1 stores z − 1. */
export function packQzeros(z: Int32Array, rows: number, groups: number, bits: number, format: GptqFormat): Int32Array {
  const wpr = (rows * bits) / 32;
  const out = new Int32Array(groups * wpr);
  const shift = format === 'gptq' ? 1 : 0;
  for (let g = 0; g < groups; g++) for (let o = 0; o < rows; o++) streamPut(out, g * wpr, 1, o, bits, z[o * groups + g] - shift);
  return out;
}

/** scales [G, O] as f16 bits (the QTensor holds them [O, G] in f32). */
export function packScales(q: QTensor): Uint16Array {
  const G = groupsPerRow(q.cols, q.groupSize);
  const out = new Uint16Array(G * q.rows);
  for (let o = 0; o < q.rows; o++) for (let g = 0; g < G; g++) out[g * q.rows + o] = f32ToF16(q.scale[o * G + g]);
  return out;
}

/** g_idx [I] of a desc_act=false checkpoint: input i is in group i // groupSize. */
export function gptqGIdx(cols: number, groupSize: number): Int32Array {
  const gs = groupSize < 0 ? cols : groupSize;
  return Int32Array.from({ length: cols }, (_, i) => Math.floor(i / gs));
}

export interface GptqUnpackInput {
  qweight: Int32Array;
  qzeros: Int32Array;
  /** f16 bits (Uint16Array) or values (Float32Array), [G, O]. */
  scales: Uint16Array | Float32Array;
  /** [I], or null for checkpoints without one (then i // groupSize). */
  g_idx: Int32Array | null;
}

export interface GptqUnpackOptions {
  bits: number;
  inFeatures: number;
  outFeatures: number;
  /** −1: one group per row. */
  groupSize: number;
  format: GptqFormat;
  /** For errors: the file and the layer (module prefix). */
  file: string;
  name: string;
}

/** GPTQ tensors → QTensor (engine row order = HF order). Checks every length before allocating. */
export function unpackGptq(t: GptqUnpackInput, o: GptqUnpackOptions): QTensor {
  const fail = (tensor: string, detail: string): never => {
    throw new GptqError(o.file, `${o.name}.${tensor}: ${detail}`);
  };
  const { bits, inFeatures: I, outFeatures: O } = o;
  if (!isGptqBits(bits)) throw new UnsupportedError(o.file, `${o.name}: ${bits}-bit GPTQ; sub4 reads 2, 3, 4 and 8 bits`);
  if (!Number.isSafeInteger(I) || !Number.isSafeInteger(O) || I < 1 || O < 1) fail('qweight', `bad layer shape [${O}, ${I}]`);
  if ((I * bits) % 32 !== 0) fail('qweight', `in_features ${I} × ${bits} bits is not a whole number of int32 words`);
  if ((O * bits) % 32 !== 0) fail('qzeros', `out_features ${O} × ${bits} bits is not a whole number of int32 words`);
  if (!Number.isSafeInteger(o.groupSize) || (o.groupSize !== -1 && o.groupSize < 1)) fail('scales', `group size ${o.groupSize} must be −1 or positive`);
  const gs = o.groupSize === -1 || o.groupSize >= I ? I : o.groupSize;
  const G = Math.ceil(I / gs);
  if (gs !== I && !(QGROUPS as readonly number[]).includes(gs))
    throw new UnsupportedError(o.file, `${o.name}: group size ${gs}; sub4 holds groups of ${QGROUPS.join(', ')} or one per row`);
  const expect = (tensor: string, got: number, want: number, shape: string) => {
    if (got !== want) fail(tensor, `${got} values, but ${shape} = ${want} for a ${bits}-bit [${O}, ${I}] layer with ${G} group${G > 1 ? 's' : ''}`);
  };
  expect('qweight', t.qweight.length, ((I * bits) / 32) * O, `[in·bits/32, out]`);
  expect('qzeros', t.qzeros.length, G * ((O * bits) / 32), `[groups, out·bits/32]`);
  expect('scales', t.scales.length, G * O, `[groups, out]`);
  if (t.g_idx) {
    expect('g_idx', t.g_idx.length, I, '[in]');
    for (let i = 0; i < I; i++)
      if (t.g_idx[i] !== Math.floor(i / gs)) {
        const v = t.g_idx[i];
        if (!(v >= 0 && v < G)) fail('g_idx', `entry ${i} is ${v}, outside 0..${G - 1}`);
        throw new UnsupportedError(o.file, `${o.name}.g_idx: input ${i} is in group ${v}, not ${Math.floor(i / gs)}: an act-order (desc_act) checkpoint, whose groups are permuted; sub4 reads only GPTQ with desc_act=false (in-order groups)`);
      }
  }
  checkQShape(O, I, bits, gs);
  const q = emptyQTensor(O, I, bits as QBits, gs);
  const f16 = f16Table();
  const shift = o.format === 'gptq' ? 1 : 0;
  const zw = (O * bits) / 32;
  for (let g = 0; g < G; g++)
    for (let r = 0; r < O; r++) {
      const s = t.scales instanceof Uint16Array ? f16[t.scales[g * O + r]] : t.scales[g * O + r];
      if (!Number.isFinite(s)) fail('scales', `group ${g}, column ${r} is ${s}`);
      const z = streamGet(t.qzeros, g * zw, 1, r, bits) + shift;
      q.scale[r * G + g] = s;
      q.offset[r * G + g] = Math.fround(-z * s);
    }
  const row = new Uint8Array(I);
  for (let r = 0; r < O; r++) {
    for (let k = 0; k < I; k++) row[k] = streamGet(t.qweight, r, O, k, bits);
    writeRowCodes(q, r, row);
  }
  return q;
}
