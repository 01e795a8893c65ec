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
    async read(offset, length) {
      checkRange(this, offset, length);
      const out = new Uint8Array(length);
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
