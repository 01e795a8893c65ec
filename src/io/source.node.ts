// Node file source: positional reads from one open handle.
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { checkRange, type ByteSource } from './source.ts';

export async function fileSource(path: string): Promise<ByteSource> {
  const fh = await open(path, 'r');
  const { size } = await fh.stat();
  const src: ByteSource = {
    name: basename(path),
    size,
    async read(offset, length, into) {
      checkRange(this, offset, length);
      // Reading into a reused buffer spares a fresh allocation per tensor, whose first-touch page faults cost as much as the read.
      const out = into && into.length >= length ? into.subarray(0, length) : new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(out, done, length - done, offset + done);
        if (bytesRead === 0) throw new RangeError(`${path}: unexpected end of file at ${offset + done}`);
        done += bytesRead;
      }
      return out;
    },
    close: () => fh.close(),
  };
  return src;
}
