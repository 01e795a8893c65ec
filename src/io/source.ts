// Random-access byte sources, so multi-GB model files are read a slice at a
// time and never copied into memory whole. Browser: a File/Blob; Node: a file
// handle (source.node.ts). Parsers only see this interface.

export interface ByteSource {
  /** Name shown in errors (file name or path). */
  readonly name: string;
  readonly size: number;
  /**
   * Bytes [offset, offset+length). Rejects if the range is outside the source.
   * `into` (at least `length` bytes) is a buffer the source may fill and return a
   * view of instead of allocating: a load reads every tensor through the same
   * few buffers (src/model/read_ahead.ts). Sources that cannot fill it ignore it,
   * so callers use the returned bytes, never `into` itself.
   */
  read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  close?(): Promise<void>;
}

export class SourceRangeError extends RangeError {}

export function checkRange(src: { name: string; size: number }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > src.size)
    throw new SourceRangeError(`${src.name}: read of ${length} bytes at ${offset} is outside the file (${src.size} bytes)`);
}

/** A Blob or File (browser, worker, or Node's global Blob). */
export function blobSource(blob: Blob, name = (blob as File).name ?? 'blob'): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset, length) {
      checkRange(this, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}

/** An in-memory buffer (tests, fuzzing, small generated files). */
export function bytesSource(bytes: Uint8Array, name = 'bytes'): ByteSource {
  return {
    name,
    size: bytes.length,
    async read(offset, length) {
      checkRange(this, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}
