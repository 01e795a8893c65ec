// Node: a ByteSink writing sequentially to a file. The data is written to
// `<path>.partial` and renamed into place only when complete, so an
// interrupted write never leaves a truncated file under the final name.
import { open, rename, rm } from 'node:fs/promises';
import type { ByteSink } from './gguf/writer.ts';

export interface FileSink extends ByteSink {
  /** Flush, close and move into place. */
  commit(): Promise<void>;
  /** Close and delete the partial file. */
  abort(): Promise<void>;
}

export async function fileSink(path: string): Promise<FileSink> {
  const partial = `${path}.partial`;
  const fh = await open(partial, 'w');
  let pos = 0;
  return {
    async write(bytes) {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, pos);
        done += bytesWritten;
        pos += bytesWritten;
      }
    },
    async commit() {
      await fh.sync();
      await fh.close();
      await rename(partial, path);
    },
    async abort() {
      await fh.close().catch(() => {});
      await rm(partial, { force: true });
    },
  };
}
