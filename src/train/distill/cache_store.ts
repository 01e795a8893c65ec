// Where a teacher cache lives, abstractly: one file per cache, written once as
// a stream (it can be gigabytes: [windows × T × K] rows) and read back in
// ranges, a window at a time. A store keeps no half-written file under the
// final name (write to a temporary one, then rename / close), so a kill during
// the build leaves either the previous cache or none. Node: cache_store.node.ts
// (a folder), the browser: cache_store.opfs.ts (an OPFS directory).

/** A cache file being written; nothing is visible under its name until commit(). */
export interface CacheWriter {
  write(bytes: Uint8Array): Promise<void>;
  commit(): Promise<void>;
  /** Drop what was written (idempotent). */
  abort(): Promise<void>;
}

export interface TeacherCacheStore {
  /** Where the files live, in words for messages. */
  readonly where: string;
  describe(name: string): string;
  /** Bytes of file `name`, or null when there is none. */
  size(name: string): Promise<number | null>;
  /** Up to `length` bytes from `offset` (fewer at the end of a short file). */
  read(name: string, offset: number, length: number): Promise<Uint8Array>;
  writer(name: string): Promise<CacheWriter>;
  remove(name: string): Promise<void>;
}

/** A store in memory (tests). */
export function memoryCacheStore(where = 'memory'): TeacherCacheStore & { files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  return {
    where,
    files,
    describe: (name) => `${where}/${name}`,
    async size(name) {
      return files.get(name)?.length ?? null;
    },
    async read(name, offset, length) {
      const f = files.get(name);
      if (!f) throw new Error(`${where}/${name}: no such cache file`);
      return f.slice(offset, Math.min(f.length, offset + length));
    },
    async writer(name) {
      const parts: Uint8Array[] = [];
      let live = true;
      return {
        async write(bytes) {
          if (!live) throw new Error('cache writer closed');
          parts.push(bytes.slice());
        },
        async commit() {
          if (!live) throw new Error('cache writer closed');
          live = false;
          const n = parts.reduce((s, p) => s + p.length, 0);
          const all = new Uint8Array(n);
          let o = 0;
          for (const p of parts) {
            all.set(p, o);
            o += p.length;
          }
          files.set(name, all);
        },
        async abort() {
          live = false;
        },
      };
    },
    async remove(name) {
      files.delete(name);
    },
  };
}
