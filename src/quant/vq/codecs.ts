// The registry of codebook ggml types: one VqCodec per type, from the two
// families' files (grid i-quants; 16-value tables, FP4 and ternary).
import type { GgmlType } from '../formats.ts';
import type { VqCodec } from './codec.ts';
import { GRID_CODECS } from './grid_codecs.ts';
import { TABLE_CODECS } from './table_codecs.ts';

const BY_TYPE = new Map<number, VqCodec>([...GRID_CODECS, ...TABLE_CODECS].map((c) => [c.type, c]));

export function isVqGgmlType(type: number): boolean {
  return BY_TYPE.has(type);
}

/** The codec of a codebook type; RangeError for any other type. */
export function vqCodec(type: GgmlType): VqCodec {
  const c = BY_TYPE.get(type);
  if (!c) throw new RangeError(`ggml type ${type} is not a codebook type`);
  return c;
}
