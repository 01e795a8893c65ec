// Node: teacher caches in a folder (by default inside the run's --out). Written
// through io/sink.node.ts (`NAME.partial`, fsync, rename), read by ranges.
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileSink } from '../../io/sink.node.ts';
import type { TeacherCacheStore } from './cache_store.ts';

export function folderCacheStore(dir: string): TeacherCacheStore {
  const describe = (name: string) => join(dir, name);
  return {
    where: dir,
    describe,
    async size(name) {
      try {
        return (await stat(describe(name))).size;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
    },
    async read(name, offset, length) {
      const fh = await open(describe(name), 'r');
      try {
        const out = new Uint8Array(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await fh.read(out, done, length - done, offset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return done === length ? out : out.slice(0, done);
      } finally {
        await fh.close();
      }
    },
    async writer(name) {
      await mkdir(dir, { recursive: true });
      const sink = await fileSink(describe(name));
      let open = true;
      return {
        async write(bytes) {
          await sink.write(bytes);
        },
        async commit() {
          open = false;
          await sink.commit();
        },
        async abort() {
          if (!open) return;
          open = false;
          await sink.abort();
        },
      };
    },
    async remove(name) {
      await rm(describe(name), { force: true });
    },
  };
}
