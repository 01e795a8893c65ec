// The one quantized-tensor type of sub4: integer codes + per-group scale and
// offset, w = scale·q + offset. Every GGUF block type converts into it, the
// quantizers produce it, and the qlinear kernels read it.
//
// Layout (weight [O, I], groups contiguous along I):
// - codes: `bits` ∈ {2,3,4,5,6,8}, unsigned q ∈ [0, 2^bits). Each row is padded to
//   a multiple of 32 codes and stored as one or two bit planes, the way ggml
//   splits Q3_K / Q5_K / Q6_K codes: plane 0 holds the low `p0` bits of every code,
//   plane 1 (when bits is not a power of two) the high `p1 = bits − p0` bits, with
//   p0 the largest power of two ≤ bits (2→2, 3→2+1, 4→4, 5→4+1, 6→4+2, 8→8).
//   In a plane of width p, code k sits at bits [(k·p) mod 32, +p) of word
//   ⌊k·p/32⌋ of that plane; a row holds ceil(I/32)·p0 words of plane 0, then
//   ceil(I/32)·p1 words of plane 1. Since p divides 32 no code ever straddles a
//   word, and 4 consecutive codes always share one word. (The GPU copy of 3/5/6-bit
//   codes is repacked into one dense stream per row: src/gpu/qtensor_gpu.ts.) The row costs exactly
//   ceil(I/32)·bits words, the same as a dense bit stream.
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

/** Widths of the two bit planes of a code width (plane 1 is 0 when bits is a power of two). */
export function planeWidths(bits: number): [number, number] {
  const p0 = bits >= 8 ? 8 : bits >= 4 ? 4 : 2;
  return [p0, bits - p0];
}

function planeField(cols: number, bits: number, k: number, plane: 0 | 1): [word: number, shift: number, width: number] {
  const [p0, p1] = planeWidths(bits);
  const p = plane === 0 ? p0 : p1;
  const base = plane === 0 ? 0 : Math.ceil(cols / 32) * p0;
  return [base + ((k * p) >>> 5), (k * p) & 31, p];
}

export function getCode(t: QTensor, r: number, k: number): number {
  const row = r * wordsPerRow(t.cols, t.bits);
  const [w0, s0, p0] = planeField(t.cols, t.bits, k, 0);
  let v = (t.codes[row + w0] >>> s0) & ((1 << p0) - 1);
  if (p0 !== t.bits) {
    const [w1, s1, p1] = planeField(t.cols, t.bits, k, 1);
    v |= ((t.codes[row + w1] >>> s1) & ((1 << p1) - 1)) << p0;
  }
  return v;
}

export function setCode(t: QTensor, r: number, k: number, q: number): void {
  const mask = (1 << t.bits) - 1;
  if (!(q >= 0 && q <= mask && Number.isInteger(q))) throw new RangeError(`code ${q} does not fit ${t.bits} bits`);
  const row = r * wordsPerRow(t.cols, t.bits);
  const put = (plane: 0 | 1, part: number) => {
    const [w, sh, p] = planeField(t.cols, t.bits, k, plane);
    const m = ((1 << p) - 1) << sh;
    t.codes[row + w] = ((t.codes[row + w] & ~m) | ((part << sh) & m)) >>> 0;
  };
  const [p0] = planeWidths(t.bits);
  put(0, q & ((1 << p0) - 1));
  if (p0 !== t.bits) put(1, q >>> p0);
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
