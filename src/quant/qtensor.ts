// The one quantized-tensor type of sub4: integer codes + per-group scale and
// offset, w = scale·q + offset. Every GGUF block type converts into it, the
// quantizers produce it, and the qlinear kernels read it.
//
// Layout (weight [O, I], groups contiguous along I):
// - codes: `bits` ∈ {2,3,4,5,6,8}, unsigned q ∈ [0, 2^bits). Each row is a
//   little-endian bit stream: code k of a row occupies bits [k·bits, k·bits+bits)
//   of the row, counting from bit 0 of the row's first u32 word. Rows are padded
//   to a multiple of 32 codes, so every row starts on a word boundary and 32 codes
//   fill exactly `bits` words for any width. 2, 4 and 8-bit codes never straddle a
//   word; 3, 5 and 6-bit codes may (the reader combines the two words).
// - scale, offset: f32 [O, ceil(I / groupSize)].
// groupSize ∈ {16, 32, 64, 128, 256} or I itself (per-channel).
export const QBITS = [2, 3, 4, 5, 6, 8] as const;
export type QBits = (typeof QBITS)[number];
export const QGROUPS = [16, 32, 64, 128, 256] as const;

export interface QTensor {
  rows: number; // O
  cols: number; // I
  bits: QBits;
  groupSize: number;
  /** u32 words, rows × wordsPerRow(cols, bits). */
  codes: Uint32Array;
  /** f32 [rows, groupsPerRow]. */
  scale: Float32Array;
  offset: Float32Array;
}

export function wordsPerRow(cols: number, bits: number): number {
  return Math.ceil(cols / 32) * bits;
}

export function groupsPerRow(cols: number, groupSize: number): number {
  return Math.ceil(cols / groupSize);
}

export function checkQShape(rows: number, cols: number, bits: number, groupSize: number): void {
  if (!QBITS.includes(bits as QBits)) throw new RangeError(`QTensor: bits must be one of ${QBITS.join(', ')}, got ${bits}`);
  if (!(QGROUPS as readonly number[]).includes(groupSize) && groupSize !== cols)
    throw new RangeError(`QTensor: group size must be one of ${QGROUPS.join(', ')} or the row length ${cols} (per-channel), got ${groupSize}`);
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) throw new RangeError(`QTensor: bad shape [${rows}, ${cols}]`);
}

export function emptyQTensor(rows: number, cols: number, bits: QBits, groupSize: number): QTensor {
  checkQShape(rows, cols, bits, groupSize);
  const g = groupsPerRow(cols, groupSize);
  return {
    rows,
    cols,
    bits,
    groupSize,
    codes: new Uint32Array(rows * wordsPerRow(cols, bits)),
    scale: new Float32Array(rows * g),
    offset: new Float32Array(rows * g),
  };
}

export function getCode(t: QTensor, r: number, k: number): number {
  const bit = k * t.bits;
  const w = r * wordsPerRow(t.cols, t.bits) + (bit >>> 5);
  const sh = bit & 31;
  const mask = (1 << t.bits) - 1;
  let v = t.codes[w] >>> sh;
  if (sh + t.bits > 32) v |= t.codes[w + 1] << (32 - sh);
  return v & mask;
}

export function setCode(t: QTensor, r: number, k: number, q: number): void {
  const mask = (1 << t.bits) - 1;
  if (!(q >= 0 && q <= mask && Number.isInteger(q))) throw new RangeError(`code ${q} does not fit ${t.bits} bits`);
  const bit = k * t.bits;
  const w = r * wordsPerRow(t.cols, t.bits) + (bit >>> 5);
  const sh = bit & 31;
  t.codes[w] = ((t.codes[w] & ~(mask << sh)) | (q << sh)) >>> 0;
  if (sh + t.bits > 32) {
    const hi = 32 - sh; // bits already written into word w
    t.codes[w + 1] = ((t.codes[w + 1] & ~(mask >>> hi)) | (q >>> hi)) >>> 0;
  }
}

/** Dequantize the whole tensor (CPU reference; the GPU never materializes this). */
export function dequantizeQ(t: QTensor): Float32Array {
  const out = new Float32Array(t.rows * t.cols);
  const g = groupsPerRow(t.cols, t.groupSize);
  for (let r = 0; r < t.rows; r++)
    for (let k = 0; k < t.cols; k++) {
      const gi = r * g + Math.floor(k / t.groupSize);
      out[r * t.cols + k] = t.scale[gi] * getCode(t, r, k) + t.offset[gi];
    }
  return out;
}

/**
 * True storage cost in bits per weight as held on the GPU: codes with their row
 * padding plus an f32 scale and offset per group. (Export formats store fp16
 * scales; they report their own figure.)
 */
export function bitsPerWeight(t: Pick<QTensor, 'rows' | 'cols' | 'bits' | 'groupSize'>): number {
  const codeBits = t.rows * wordsPerRow(t.cols, t.bits) * 32;
  const groupBits = t.rows * groupsPerRow(t.cols, t.groupSize) * 64;
  return (codeBits + groupBits) / (t.rows * t.cols);
}
