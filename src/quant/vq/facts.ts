// Layout facts of a codebook ggml type, for the memory planner and inspect:
// read off its codec's decode of one zero block (no second table of facts to
// keep in step with the codecs).
import { ggmlTypeInfo, type GgmlType } from '../formats.ts';
import { vqCodec } from './codecs.ts';
import { vqWordsPerRow, type VqDim, type VqIndexBits } from './vqtensor.ts';

export interface VqTypeFacts {
  dim: VqDim;
  indexBits: VqIndexBits;
  signed: boolean;
  groupSize: number;
  blockSize: number;
  /** θ per block of the exact view, or null where the type has none (MXFP4, NVFP4: 'auto' is the free view). */
  exactThetaPerBlock: number | null;
  /** Bytes of the type's table on the GPU (f32 entries), uploaded once per device. */
  tableBytes: number;
  /** u32 words of one row of `cols` weights on the GPU. */
  wordsPerRow(cols: number): number;
}

const cache = new Map<number, VqTypeFacts>();

export function vqTypeFacts(type: GgmlType): VqTypeFacts {
  let f = cache.get(type);
  if (!f) {
    const info = ggmlTypeInfo(type)!;
    const codec = vqCodec(type);
    const { q, origin } = codec.decode(new Uint8Array(info.bytesPerBlock), 1, info.blockSize);
    const exact = codec.exactView(q, origin);
    const shape = { indexBits: q.indexBits, signed: q.signed, codebook: { dim: q.codebook.dim } };
    f = {
      dim: q.codebook.dim,
      indexBits: q.indexBits,
      signed: q.signed,
      groupSize: q.groupSize,
      blockSize: info.blockSize,
      exactThetaPerBlock: exact ? exact.theta.length : null,
      tableBytes: 4 * q.codebook.values.length,
      wordsPerRow: (cols) => vqWordsPerRow({ cols, ...shape }),
    };
    cache.set(type, f);
  }
  return f;
}
