// safetensors reader over a ByteSource: reads and validates the header, then
// slices one tensor (or a range of its rows) at a time, so a multi-GB file is
// never held whole, in a browser worker (File) or in Node (file handle).
import { SafetensorsError, UnsupportedError } from '../../base/errors.ts';
import type { ByteSource } from '../source.ts';
import { DTYPES } from './dtypes.ts';
import { MAX_HEADER_BYTES, parseSafetensorsHeader, type SafetensorsTensorInfo } from './header.ts';

/** Rows [start, end) of the first dimension; a row is the product of the remaining dims. */
export interface RowRange {
  start: number;
  end: number;
}

/** What both a single file and a sharded set (index.ts) offer. */
export interface SafetensorsStore {
  /** Tensor infos by name (each names its file in `file`). */
  readonly tensors: ReadonlyMap<string, SafetensorsTensorInfo & { readonly file: string }>;
  readonly metadata: ReadonlyMap<string, string>;
  readonly warnings: readonly string[];
  /** Raw little-endian bytes of a tensor (or of some of its rows); `into`: a buffer the source may fill (ByteSource.read). */
  readTensorBytes(name: string, rows?: RowRange, into?: Uint8Array): Promise<Uint8Array>;
  /** The tensor (or some of its rows) converted to f32. */
  readTensorF32(name: string, rows?: RowRange): Promise<Float32Array>;
  close(): Promise<void>;
}

export interface SafetensorsFile extends SafetensorsStore {
  readonly source: ByteSource;
  /** Absolute byte offset of the data section (8 + header length). */
  readonly dataStart: number;
  /** Header length N as stored in the 8-byte prefix (JSON plus padding). */
  readonly headerLength: number;
}

/**
 * Validates the header and returns the file. Takes ownership of `src`: the
 * result's close() closes it, and it is closed here when validation fails.
 */
export async function openSafetensors(src: ByteSource): Promise<SafetensorsFile> {
  try {
    return await open(src);
  } catch (e) {
    await src.close?.();
    throw e;
  }
}

async function open(src: ByteSource): Promise<SafetensorsFile> {
  const file = src.name;
  const fail = (detail: string): never => {
    throw new SafetensorsError(file, detail);
  };
  if (src.size < 8) fail(`file is ${src.size} bytes, too short for the 8-byte header length`);
  const prefix = await readOrFail(src, 0, 8);
  const dv = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  // Check the high word first so the u64 is never rounded into a plausible value.
  if (hi !== 0 || lo > MAX_HEADER_BYTES)
    fail(`header length ${hi * 2 ** 32 + lo} exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
  const n = lo;
  if (n < 2) fail(`header length ${n} is too small for a JSON object`);
  if (8 + n > src.size) fail(`header length ${n} runs past the end of the file (${src.size} bytes; truncated?)`);
  const dataStart = 8 + n;
  const header = parseSafetensorsHeader(await readOrFail(src, 8, n), file, src.size - dataStart);
  const tensors = new Map(header.tensors.map((t) => [t.name, { ...t, file }] as const));

  const info = (name: string) => tensors.get(name) ?? fail(`no tensor named ${JSON.stringify(name)}`);
  const readTensorBytes = async (name: string, rows?: RowRange, into?: Uint8Array) => {
    const t = info(name);
    const [off, len] = rowSpan(t, rows, file);
    return readOrFail(src, dataStart + t.begin + off, len, into);
  };
  return {
    source: src,
    dataStart,
    headerLength: n,
    tensors,
    metadata: header.metadata,
    warnings: header.warnings,
    readTensorBytes,
    async readTensorF32(name, rows) {
      const t = info(name);
      const decode = DTYPES[t.dtype].toF32;
      if (!decode) throw new UnsupportedError(file, `tensor ${name}: dtype ${t.dtype} cannot be converted to f32 by sub4`);
      return decodeF32(t, await readTensorBytes(name, rows));
    },
    close: async () => src.close?.(),
  };
}

/** Byte offset within the tensor and byte length of a row range (whole tensor when omitted). */
export function rowSpan(t: SafetensorsTensorInfo, rows: RowRange | undefined, file: string): [number, number] {
  const size = t.end - t.begin;
  if (!rows) return [0, size];
  const nRows = t.shape.length === 0 ? 1 : t.shape[0];
  const { start, end } = rows;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > nRows)
    throw new SafetensorsError(file, `tensor ${t.name}: rows ${start}..${end} outside 0..${nRows}`);
  if (nRows === 0) return [0, 0];
  const rowBytes = size / nRows;
  if (!Number.isInteger(rowBytes))
    throw new UnsupportedError(file, `tensor ${t.name}: ${t.dtype} rows are not whole bytes, read it whole`);
  return [start * rowBytes, (end - start) * rowBytes];
}

/** Converts raw tensor bytes to f32 (a fresh array; decodeF32Into for a reused one). */
export function decodeF32(t: SafetensorsTensorInfo, bytes: Uint8Array): Float32Array {
  const out = new Float32Array((bytes.length * 8) / DTYPES[t.dtype].bits);
  decodeF32Into(t, bytes, out);
  return out;
}

/**
 * Converts raw tensor bytes to f32 into `out` (exactly one f32 per element).
 * Bytes that are not element-aligned (an odd tensor offset in an in-memory
 * file) are first copied once to the end of `out`'s own memory, which is then
 * decoded in place: every decoder reads element i before writing out[i], and an
 * element of at most 4 bytes placed there is never overwritten before it is read.
 * Only 8-byte dtypes, wider than their f32, take a separate aligned copy.
 */
export function decodeF32Into(t: SafetensorsTensorInfo, bytes: Uint8Array, out: Float32Array): void {
  const dt = DTYPES[t.dtype];
  const decode = dt.toF32;
  if (!decode) throw new UnsupportedError(t.name, `dtype ${t.dtype} cannot be converted to f32 by sub4`);
  if ((bytes.length * 8) / dt.bits !== out.length)
    throw new RangeError(`tensor ${t.name}: ${bytes.length} bytes of ${t.dtype} are not ${out.length} elements`);
  if (bytes.byteOffset % dt.align === 0) return decode(bytes, out);
  if (bytes.length > out.byteLength) return decode(bytes.slice(), out);
  const tail = new Uint8Array(out.buffer, out.byteOffset + out.byteLength - bytes.length, bytes.length);
  tail.set(bytes);
  decode(tail, out);
}

/** A source read that turns range/IO failures into a SafetensorsError naming the file. */
async function readOrFail(src: ByteSource, offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
  try {
    return await src.read(offset, length, into);
  } catch (e) {
    throw new SafetensorsError(src.name, `could not read ${length} bytes at offset ${offset}: ${(e as Error).message}`);
  }
}
