// The studio's export targets (src/worker/export_target.ts) with a fake folder
// handle that behaves as the File System Access API does (getFileHandle with
// create makes an empty file at once; a writable replaces the file only on
// close; abort discards it) and with downloads as Blobs:
//  - a complete file arrives byte-exact under its name, whether written as
//    many tiny writes or writes larger than the coalescing block;
//  - a write that fails half way leaves no file (not even the empty one the
//    handle created), keeps an older file of that name untouched, and for
//    downloads hands on no Blob at all;
//  - a stop between writes aborts the same way.
import { describe, expect, it } from 'vitest';
import { writeExportFile } from '../../src/export/target.ts';
import { CHUNK_BYTES, downloadTarget, folderTarget, type DirectoryLike, type TargetHooks, type WritableLike } from '../../src/worker/export_target.ts';

class NotFound extends Error {
  override name = 'NotFoundError';
}

/** A folder: committed files by name; writes fail once `failAfter` bytes have gone into one writable. */
function fakeDir(failAfter = Infinity): DirectoryLike & { files: Map<string, Uint8Array>; writes: number[] } {
  const files = new Map<string, Uint8Array>();
  const writes: number[] = [];
  return {
    name: 'out',
    files,
    writes,
    async getFileHandle(name, opts) {
      if (!files.has(name)) {
        if (!opts?.create) throw new NotFound(name);
        files.set(name, new Uint8Array(0));
      }
      return {
        async createWritable(): Promise<WritableLike> {
          const chunks: Uint8Array[] = [];
          let n = 0;
          return {
            async write(d) {
              if (n + d.length > failAfter) throw new Error('disk full');
              writes.push(d.length);
              chunks.push(d.slice()); // a real writable copies too
              n += d.length;
            },
            async close() {
              const out = new Uint8Array(n);
              let o = 0;
              for (const c of chunks) (out.set(c, o), (o += c.length));
              files.set(name, out);
            },
            async abort() {
              chunks.length = 0;
            },
          };
        },
      };
    },
    async removeEntry(name) {
      files.delete(name);
    },
  };
}

function hooks(stopAt = Infinity) {
  const log: string[] = [];
  const blobs = new Map<string, Blob>();
  let bytes = 0;
  const h: TargetHooks = {
    onStart: (n) => void log.push(`start ${n}`),
    onBytes: (_n, b) => void (bytes = b),
    onCommit: (n, b, blob) => {
      log.push(`commit ${n} ${b}`);
      if (blob) blobs.set(n, blob);
    },
    checkStop: () => {
      if (bytes >= stopAt) throw new Error('stopped');
    },
  };
  return { h, log, blobs };
}

/** Deterministic bytes: `count` writes of `size` (a pattern that shows any reordering or reuse). */
function pieces(count: number, size: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => {
    const p = new Uint8Array(size);
    for (let j = 0; j < size; j++) p[j] = (i * 31 + j * 7) & 255;
    return p;
  });
}

/** Byte equality without the matcher's element-by-element diff (megabytes of it are slow). */
function same(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && Buffer.compare(a, b) === 0;
}

const concat = (xs: Uint8Array[]) => {
  const out = new Uint8Array(xs.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of xs) (out.set(x, o), (o += x.length));
  return out;
};

/** The producer reuses its buffer after each write, as a writer with a scratch block may. */
async function produce(sink: { write(b: Uint8Array): Promise<void> | void }, parts: Uint8Array[]): Promise<void> {
  const scratch = new Uint8Array(Math.max(...parts.map((p) => p.length)));
  for (const p of parts) {
    scratch.set(p);
    await sink.write(scratch.subarray(0, p.length));
    scratch.fill(0xee);
  }
}

describe('folder target (File System Access API)', () => {
  it('writes many small writes and a large one byte-exact, coalesced into few writable calls', async () => {
    const dir = fakeDir();
    const { h, log } = hooks();
    const parts = [...pieces(5000, 13), ...pieces(1, CHUNK_BYTES + 5), ...pieces(3, 100)];
    await writeExportFile(folderTarget(dir, h), 'model.gguf', (sink) => produce(sink, parts));
    expect(same(dir.files.get('model.gguf'), concat(parts))).toBe(true);
    expect(log).toEqual(['start model.gguf', `commit model.gguf ${5000 * 13 + CHUNK_BYTES + 5 + 300}`]);
    expect(dir.writes.length).toBe(3); // the small writes, the large one, the tail
  });

  it('a failed write leaves no file, not even the empty one the handle created', async () => {
    const dir = fakeDir(10_000);
    const { h, log } = hooks();
    const err = await writeExportFile(folderTarget(dir, h), 'model.gguf', (sink) => produce(sink, pieces(4, CHUNK_BYTES / 2))).catch((e: Error) => e);
    expect((err as Error).message).toBe('disk full');
    expect(dir.files.has('model.gguf')).toBe(false);
    expect(log).toEqual(['start model.gguf']);
  });

  it('a failed rewrite keeps the older file of that name untouched', async () => {
    const dir = fakeDir(10_000);
    dir.files.set('README.md', new TextEncoder().encode('old'));
    const err = await writeExportFile(folderTarget(dir, hooks().h), 'README.md', (sink) => produce(sink, pieces(1, CHUNK_BYTES))).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(new TextDecoder().decode(dir.files.get('README.md'))).toBe('old');
  });

  it('a stop between writes aborts the file', async () => {
    const dir = fakeDir();
    const { h } = hooks(1000);
    await expect(writeExportFile(folderTarget(dir, h), 'a.bin', (sink) => produce(sink, pieces(100, 100)))).rejects.toThrow('stopped');
    expect(dir.files.size).toBe(0);
  });

  it('refuses names that are not plain file names', async () => {
    await expect(folderTarget(fakeDir(), hooks().h).create('../x')).rejects.toThrow(/not a plain file name/);
  });
});

describe('download target (Blob)', () => {
  it('hands on one Blob per complete file, byte-exact, after commit only', async () => {
    const { h, log, blobs } = hooks();
    const t = downloadTarget(h);
    const parts = [...pieces(3000, 17), ...pieces(2, CHUNK_BYTES + 1)];
    await writeExportFile(t, 'model.gguf', (sink) => produce(sink, parts));
    await writeExportFile(t, 'README.md', (sink) => sink.write(new TextEncoder().encode('# card')));
    expect(log.filter((l) => l.startsWith('commit')).length).toBe(2);
    expect(same(new Uint8Array(await blobs.get('model.gguf')!.arrayBuffer()), concat(parts))).toBe(true);
    expect(await blobs.get('README.md')!.text()).toBe('# card');
    expect(blobs.get('README.md')!.type).toBe('text/markdown');
  });

  it('a file that fails half way is never handed on', async () => {
    const { h, blobs, log } = hooks(5000);
    await expect(writeExportFile(downloadTarget(h), 'model.gguf', (sink) => produce(sink, pieces(100, 100)))).rejects.toThrow('stopped');
    expect(blobs.size).toBe(0);
    expect(log).toEqual(['start model.gguf']);
  });
});
