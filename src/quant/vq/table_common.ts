// What the 16-value-table, FP4 and ternary codecs share (table_codecs.ts,
// fp4_codecs.ts): their tables as VqTensor codebooks, the geometry and byte-count
// checks, and the word-level nibble packing of 32-weight runs.
import { GgmlType } from '../formats.ts';
import { KVALUES_IQ4NL } from '../blocks/iq4.ts';
import { KVALUES_FP4 } from '../blocks/fp4_ternary.ts';
import type { VqOrigin } from './codec.ts';
import type { Codebook, VqIndexBits, VqTensor } from './vqtensor.ts';

export const IQ4NL_CODEBOOK: Codebook = { name: 'iq4nl', dim: 1, size: 16, values: Float32Array.from(KVALUES_IQ4NL) };
export const FP4_CODEBOOK: Codebook = { name: 'mxfp4', dim: 1, size: 16, values: Float32Array.from(KVALUES_FP4) };
export const TERNARY_CODEBOOK: Codebook = { name: 'ternary', dim: 1, size: 3, values: Float32Array.of(-1, 0, 1) };
export const TQ2_CODEBOOK: Codebook = { name: 'tq2_0', dim: 1, size: 4, values: Float32Array.of(-1, 0, 1, 2) };

export interface Geometry {
  type: GgmlType;
  name: string;
  blockSize: number;
  bytesPerBlock: number;
  group: number;
  codebook: Codebook;
  bits: VqIndexBits;
}

export function checkDecode(g: Geometry, bytes: Uint8Array, rows: number, cols: number): number {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) throw new RangeError(`${g.name}: bad shape [${rows}, ${cols}]`);
  if (cols % g.blockSize !== 0) throw new RangeError(`${g.name}: row length ${cols} is not a multiple of the block size ${g.blockSize}`);
  const nb = (rows * cols) / g.blockSize;
  if (bytes.length !== nb * g.bytesPerBlock) throw new RangeError(`${g.name}: ${bytes.length} bytes for ${rows}×${cols} (expected ${nb * g.bytesPerBlock})`);
  return nb;
}

export function checkEncode(g: Geometry, q: VqTensor, origin: VqOrigin, dPerBlock: number, subPerBlock: number): number {
  if (origin.type !== g.type) throw new RangeError(`${g.name}: origin is of type ${GgmlType[origin.type]}`);
  if (q.indexBits !== g.bits || q.groupSize !== g.group || q.signed || q.codebook.dim !== 1 || q.cols % g.blockSize !== 0)
    throw new RangeError(`${g.name}: the VqTensor layout (${q.indexBits}-bit, group ${q.groupSize}, ${q.cols} columns) is not this type's`);
  const nb = (q.rows * q.cols) / g.blockSize;
  if (origin.d.length !== nb * dPerBlock) throw new RangeError(`${g.name}: origin has ${origin.d.length} scale fields, the tensor ${nb * dPerBlock}`);
  if (subPerBlock ? origin.sub?.length !== nb * subPerBlock : origin.sub !== null) throw new RangeError(`${g.name}: origin sub-scales do not match the tensor`);
  return nb;
}

export function checkScales(g: Geometry, n: number, what: string, got: number): void {
  if (got !== n) throw new RangeError(`${g.name}: ${what} has ${got} values, the tensor ${n}`);
}

// 4-bit runs: 8 bytes of nibbles → two index words (low nibbles of bytes 0..7
// are weights 0..7, high nibbles the 8 weights of the next word of the run).
export function lowWord(b: Uint8Array, o: number): number {
  return ((b[o] & 15) | ((b[o + 1] & 15) << 4) | ((b[o + 2] & 15) << 8) | ((b[o + 3] & 15) << 12) |
    ((b[o + 4] & 15) << 16) | ((b[o + 5] & 15) << 20) | ((b[o + 6] & 15) << 24) | ((b[o + 7] & 15) << 28)) >>> 0;
}
export function highWord(b: Uint8Array, o: number): number {
  return ((b[o] >> 4) | ((b[o + 1] >> 4) << 4) | ((b[o + 2] >> 4) << 8) | ((b[o + 3] >> 4) << 12) |
    ((b[o + 4] >> 4) << 16) | ((b[o + 5] >> 4) << 20) | ((b[o + 6] >> 4) << 24) | ((b[o + 7] >> 4) << 28)) >>> 0;
}
export function putWords(lo: number, hi: number, out: Uint8Array, o: number): void {
  for (let j = 0; j < 8; j++) out[o + j] = ((lo >>> (4 * j)) & 15) | (((hi >>> (4 * j)) & 15) << 4);
}
/** 32 weights, weight j < 16 the low nibble of byte j, j + 16 the high one (IQ4_NL, IQ4_XS sub-block, MXFP4). */
export function nibbles32(b: Uint8Array, o: number, codes: Uint32Array, w: number): void {
  codes[w] = lowWord(b, o);
  codes[w + 1] = lowWord(b, o + 8);
  codes[w + 2] = highWord(b, o);
  codes[w + 3] = highWord(b, o + 8);
}
export function putNibbles32(codes: Uint32Array, w: number, out: Uint8Array, o: number): void {
  putWords(codes[w], codes[w + 2], out, o);
  putWords(codes[w + 1], codes[w + 3], out, o + 8);
}

export const relErr = (got: number, want: number) => Math.abs(got - want) / Math.max(Math.abs(want), 1e-30);

