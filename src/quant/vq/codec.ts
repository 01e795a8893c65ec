// What a ggml codebook type (i-quants, 16-value tables, FP4, ternary) provides:
// a lossless decode of its blocks into a VqTensor plus the "origin" (the stored
// scale fields, as raw bits and integers), the inverse encode, and the two
// trainable views of the issue: the exact one (θ = each super-block's stored
// scale field, exported bit-exactly up to that field's rounding) and the free
// one (one θ per sub-block, refitted into the stored fields at export with the
// error reported, as src/export/kquant_refit.ts does for K-quants).
import type { GgmlType } from '../formats.ts';
import type { Parametrization } from '../parametrize.ts';
import type { VqTensor } from './vqtensor.ts';

/** The stored scale fields of a tensor's blocks, so that encode(decode(x)) = x. */
export interface VqOrigin {
  type: GgmlType;
  /** Per block: the raw bits of its super-block scale (fp16 `d`; IQ1_M's assembled nibbles; MXFP4's e8m0 byte). NVFP4: per 16-weight sub-block, its ue4m3 byte. */
  d: Uint16Array;
  /** Per sub-block (group): its integer sub-scale as stored, or null for types with none. */
  sub: Int32Array | null;
}

export interface VqCodec {
  type: GgmlType;
  /** Weights per block and bytes per block (the ggml geometry). */
  blockSize: number;
  bytesPerBlock: number;
  /** Decode a [rows, cols] tensor of blocks (cols a multiple of blockSize; RangeError otherwise). */
  decode(bytes: Uint8Array, rows: number, cols: number): { q: VqTensor; origin: VqOrigin };
  /** Blocks from the tensor's indices and signs and the origin's scale fields: decode's inverse, byte for byte. */
  encode(q: VqTensor, origin: VqOrigin): Uint8Array;
  /**
   * The exact view: θ per block = the value of its stored scale, each group's
   * scale = a[g]·θ[block] with a[g] fixed by the integer sub-scale, offset 0.
   * Null when the stored scale is not a continuous value (MXFP4's power of two, NVFP4's fp8).
   */
  exactView(q: VqTensor, origin: VqOrigin): Parametrization | null;
  /** The origin with each block's stored scale replaced by θ of the exact view (rounded as the field stores it). */
  withExactTheta(origin: VqOrigin, theta: ArrayLike<number>): VqOrigin;
  /**
   * Free view export: the stored scale fields and integer sub-scales that best
   * reproduce per-group target scales (codes unchanged), with the largest
   * relative error over groups. Offsets cannot be stored and must be 0.
   */
  refit(origin: VqOrigin, scale: Float32Array): { origin: VqOrigin; maxRelErr: number };
}
