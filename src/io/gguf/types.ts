// GGUF data model shared by the reader, writer and every consumer (model
// loader, inspect, export). Layout reference: docs/formats.md §1 (ggml docs/gguf.md,
// gguf.cpp). Dimensions are in ggml order: ne[0] is the innermost (row) length.
import type { ByteSource } from '../source.ts';
import type { GgmlType } from '../../quant/formats.ts';

export { GgmlType } from '../../quant/formats.ts';

export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** u64/i64 scalars are numbers when they are safe integers, bigint otherwise. */
export type GgufScalar = number | bigint | boolean | string;

/**
 * Arrays decode to the typed array of their element type (UINT8 → Uint8Array, …,
 * UINT64 → BigUint64Array), STRING → string[], BOOL → boolean[]. Nested arrays
 * (GgufValue[]) are allowed by the spec but rejected by gguf.cpp, so sub4's
 * reader and writer reject them too; the member stays for completeness.
 */
export type GgufValue =
  | GgufScalar
  | string[]
  | Float32Array
  | Int32Array
  | Uint32Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array
  | boolean[]
  | GgufValue[];

export interface GgufKv {
  type: GgufValueType;
  /** Element type when type is ARRAY. */
  arrayType?: GgufValueType;
  value: GgufValue;
}

export interface GgufTensorInfo {
  name: string;
  /** ggml order: ne[0] is the innermost (row) length. */
  ne: number[];
  type: GgmlType;
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  nbytes: number;
  /** Product of ne. */
  nelements: number;
}

export interface GgufFile {
  /** Source name, used in every error message. */
  name: string;
  version: 2 | 3;
  /** In file order. */
  kv: Map<string, GgufKv>;
  /** In file order. */
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute offset of the data section (tensor offsets in the file are relative to it); in a file
   *  without tensors it is the padded end of the header and may lie past the end of the file. */
  dataOffset: number;
  source: ByteSource;
}

export const GGUF_MAGIC = new Uint8Array([0x47, 0x47, 0x55, 0x46]); // "GGUF"
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** gguf.cpp limits: GGML_MAX_DIMS and GGML_MAX_NAME (names must be shorter). */
export const GGML_MAX_DIMS = 4;
export const GGML_MAX_NAME = 64;
export const ALIGNMENT_KEY = 'general.alignment';

/** Byte size of a fixed-size value type, or 0 for STRING / ARRAY. */
export function valueTypeSize(t: GgufValueType): number {
  switch (t) {
    case GgufValueType.UINT8:
    case GgufValueType.INT8:
    case GgufValueType.BOOL:
      return 1;
    case GgufValueType.UINT16:
    case GgufValueType.INT16:
      return 2;
    case GgufValueType.UINT32:
    case GgufValueType.INT32:
    case GgufValueType.FLOAT32:
      return 4;
    case GgufValueType.UINT64:
    case GgufValueType.INT64:
    case GgufValueType.FLOAT64:
      return 8;
    default:
      return 0;
  }
}

export function isValueType(t: number): t is GgufValueType {
  return Number.isInteger(t) && t >= 0 && t <= 12;
}

export function padTo(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}
