// The codebook (vector-quantized) tensor of sub4, beside the scalar QTensor
// (src/quant/qtensor.ts). Every i-quant, the 16-value tables (IQ4_NL, IQ4_XS,
// MXFP4, NVFP4), the ternary types (TQ1_0, TQ2_0) and ReALLM's learned
// per-matrix codebooks are one form:
//
//   w[r,k] = scale[r,g] · σ[r,k] · table[idx[r,v]][k mod d] + offset[r,g]
//   v = ⌊k/d⌋ (the vector of d weights holding k), g = ⌊k/G⌋ (its sub-block),
//   σ = −1 where the sign bit of weight k is set, else +1 (types without signs: +1).
//
// The table is the fixed grid of a ggml type (iq2xxs_grid, kvalues_iq4nl, …) or
// a learned one; it lives in the tensor so that a learned table (ReALLM) is the
// same object as a fixed one. IQ1's ±1/8 delta is folded into the table (entries
// 0..2047 are grid + 1/8, 2048..4095 grid − 1/8) because IQ1_M flips it per
// vector of 8, not per sub-block; scale and offset then keep the QTensor's
// meaning, so the trainable views (src/quant/parametrize.ts) and the qparam
// kernels serve both tensors unchanged.
//
// Layout of one row (u32 words, rows back to back):
// - index words: the row is padded to P = ceil(cols/32)·32 weights, P/d indices
//   of `indexBits` ∈ {2, 4, 8, 16} bits (a power of two, so no index straddles a
//   word): index v at bits [(v·b) mod 32, +b) of word ⌊v·b/32⌋;
//   ceil(P/d·b/32) words.
// - sign words (signed tensors only): P/32 words, the sign of weight k at bit
//   k mod 32 of word ⌊k/32⌋ after the index words.
// The GPU copy uses the same rows (src/gpu/vq_gpu.ts).
export const VQ_INDEX_BITS = [2, 4, 8, 16] as const;
export type VqIndexBits = (typeof VQ_INDEX_BITS)[number];
export const VQ_DIMS = [1, 2, 4, 8] as const;
export type VqDim = (typeof VQ_DIMS)[number];

export interface Codebook {
  /** 'iq2xxs', 'iq4nl', 'mxfp4', 'ternary', … or 'learned' (ReALLM). */
  name: string;
  /** Weights per index. */
  dim: VqDim;
  /** Entries (≤ 2^indexBits of any tensor using it). */
  size: number;
  /** size × dim values: entry e, element j at e·dim + j. */
  values: Float32Array;
}

export interface VqTensor {
  rows: number; // O
  cols: number; // I
  codebook: Codebook;
  indexBits: VqIndexBits;
  /** One sign bit per weight (set = negated). */
  signed: boolean;
  /** Weights per scale/offset group (sub-block): 16, 32, 64, 128, 256 or cols. */
  groupSize: number;
  /** u32 words, rows × vqWordsPerRow(…). */
  codes: Uint32Array;
  /** f32 [rows, ceil(cols / groupSize)]. */
  scale: Float32Array;
  offset: Float32Array;
}

type Shape = Pick<VqTensor, 'cols' | 'indexBits' | 'signed'> & { codebook: Pick<Codebook, 'dim'> };

/** Words of index fields in one row. */
export function vqIndexWords(t: Shape): number {
  const padded = Math.ceil(t.cols / 32) * 32;
  return Math.ceil(((padded / t.codebook.dim) * t.indexBits) / 32);
}

export function vqWordsPerRow(t: Shape): number {
  return vqIndexWords(t) + (t.signed ? Math.ceil(t.cols / 32) : 0);
}

export function vqGroupsPerRow(t: Pick<VqTensor, 'cols' | 'groupSize'>): number {
  return Math.ceil(t.cols / t.groupSize);
}

/** The smallest storage width that holds every index of a table of `size` entries. */
export function indexBitsFor(size: number): VqIndexBits {
  const w = VQ_INDEX_BITS.find((b) => size <= 2 ** b);
  if (w === undefined) throw new RangeError(`VqTensor: a table of ${size} entries needs more than 16-bit indices`);
  return w;
}

export function emptyVqTensor(rows: number, cols: number, codebook: Codebook, groupSize: number, signed: boolean, indexBits = indexBitsFor(codebook.size)): VqTensor {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) throw new RangeError(`VqTensor: bad shape [${rows}, ${cols}]`);
  if (!(VQ_DIMS as readonly number[]).includes(codebook.dim)) throw new RangeError(`VqTensor: vector length ${codebook.dim} is not one of ${VQ_DIMS.join(', ')}`);
  if (codebook.values.length !== codebook.size * codebook.dim) throw new RangeError(`VqTensor: table ${codebook.name} has ${codebook.values.length} values, not ${codebook.size}×${codebook.dim}`);
  if (2 ** indexBits < codebook.size) throw new RangeError(`VqTensor: ${indexBits}-bit indices cannot address ${codebook.size} entries`);
  if (!(groupSize === cols || ([16, 32, 64, 128, 256].includes(groupSize) && groupSize % codebook.dim === 0)))
    throw new RangeError(`VqTensor: group size ${groupSize} must be 16, 32, 64, 128, 256 (a multiple of the vector length) or the row length`);
  const shape = { cols, indexBits, signed, codebook };
  const g = Math.ceil(cols / groupSize);
  return {
    rows,
    cols,
    codebook,
    indexBits,
    signed,
    groupSize,
    codes: new Uint32Array(rows * vqWordsPerRow(shape)),
    scale: new Float32Array(rows * g),
    offset: new Float32Array(rows * g),
  };
}

export function getIndex(t: VqTensor, r: number, v: number): number {
  const b = v * t.indexBits;
  return (t.codes[r * vqWordsPerRow(t) + (b >>> 5)] >>> (b & 31)) & ((2 ** t.indexBits - 1) >>> 0);
}

export function setIndex(t: VqTensor, r: number, v: number, idx: number): void {
  if (!(Number.isInteger(idx) && idx >= 0 && idx < t.codebook.size)) throw new RangeError(`index ${idx} is outside table ${t.codebook.name} (${t.codebook.size} entries)`);
  const b = v * t.indexBits;
  const w = r * vqWordsPerRow(t) + (b >>> 5);
  const m = ((2 ** t.indexBits - 1) << (b & 31)) >>> 0;
  t.codes[w] = ((t.codes[w] & ~m) | ((idx << (b & 31)) & m)) >>> 0;
}

/** Whether weight k of row r is negated. */
export function getSign(t: VqTensor, r: number, k: number): boolean {
  if (!t.signed) return false;
  return ((t.codes[r * vqWordsPerRow(t) + vqIndexWords(t) + (k >>> 5)] >>> (k & 31)) & 1) === 1;
}

export function setSign(t: VqTensor, r: number, k: number, negative: boolean): void {
  if (!t.signed) throw new RangeError('setSign on a VqTensor without sign bits');
  const w = r * vqWordsPerRow(t) + vqIndexWords(t) + (k >>> 5);
  t.codes[w] = negative ? (t.codes[w] | (1 << (k & 31))) >>> 0 : (t.codes[w] & ~(1 << (k & 31))) >>> 0;
}

/** σ·table value of weight k of row r, before scale and offset. */
export function vqValue(t: VqTensor, r: number, k: number): number {
  const d = t.codebook.dim;
  const v = t.codebook.values[getIndex(t, r, Math.floor(k / d)) * d + (k % d)];
  return getSign(t, r, k) ? -v : v;
}

/** Dequantize the whole tensor (CPU reference; the GPU never materializes this). */
export function dequantizeVq(t: VqTensor): Float32Array {
  const out = new Float32Array(t.rows * t.cols);
  const g = vqGroupsPerRow(t);
  for (let r = 0; r < t.rows; r++)
    for (let k = 0; k < t.cols; k++) {
      const gi = r * g + Math.floor(k / t.groupSize);
      out[r * t.cols + k] = Math.fround(t.scale[gi] * vqValue(t, r, k)) + t.offset[gi];
    }
  return out;
}

/** Storage cost in bits per weight as held on the GPU: indices, signs, and an f32 scale and offset per group (the table not counted: it is shared or tiny). */
export function vqBitsPerWeight(t: Pick<VqTensor, 'rows' | 'cols' | 'indexBits' | 'signed' | 'groupSize'> & { codebook: Pick<Codebook, 'dim'> }): number {
  const codeBits = t.rows * vqWordsPerRow(t) * 32;
  const groupBits = t.rows * Math.ceil(t.cols / t.groupSize) * 64;
  return (codeBits + groupBits) / (t.rows * t.cols);
}
