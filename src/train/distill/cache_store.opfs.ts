// The browser: teacher caches in an origin-private file system directory (the
// studio's worker passes the run's directory handle). A writable's bytes
// replace the file only at close(), so an interrupted build leaves no torn
// cache under the name (an aborted first build removes the empty file that
// getFileHandle's create made); reads are Blob slices of getFile().
import type { TeacherCacheStore } from './cache_store.ts';

const missing = (e: unknown) => e instanceof DOMException && (e.name === 'NotFoundError' || e.name === 'TypeMismatchError');

export function opfsCacheStore(dir: FileSystemDirectoryHandle, where = 'OPFS'): TeacherCacheStore {
  const describe = (name: string) => `${where}/${name}`;
  const size = async (name: string): Promise<number | null> => {
    try {
      return (await (await dir.getFileHandle(name)).getFile()).size;
    } catch (e) {
      if (missing(e)) return null;
      throw e;
    }
  };
  return {
    where,
    describe,
    size,
    async read(name, offset, length) {
      const f = await (await dir.getFileHandle(name)).getFile();
      return new Uint8Array(await f.slice(offset, Math.min(f.size, offset + length)).arrayBuffer());
    },
    async writer(name) {
      const existed = (await size(name)) !== null;
      const w = await (await dir.getFileHandle(name, { create: true })).createWritable({ keepExistingData: false });
      let open = true;
      return {
        write: (bytes) => w.write(bytes as Uint8Array<ArrayBuffer>),
        async commit() {
          open = false;
          await w.close();
        },
        async abort() {
          if (!open) return;
          open = false;
          await w.abort();
          // getFileHandle's create made an empty file under the name: drop it (a previous file stays as it was).
          if (!existed) await dir.removeEntry(name).catch(() => {});
        },
      };
    },
    async remove(name) {
      try {
        await dir.removeEntry(name);
      } catch (e) {
        if (!missing(e)) throw e;
      }
    },
  };
}
