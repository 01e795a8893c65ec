// Where the studio's exports go, on the worker side (the CLI's counterpart is
// src/export/target.node.ts). Two ExportTargets, both of which commit a file
// only when it is complete:
//   folderTarget    a folder the user picked (File System Access API): each file
//                   is streamed into a FileSystemWritableFileStream, which only
//                   replaces the file on close(); on failure the writable is
//                   aborted, and a file this export created is removed again.
//   downloadTarget  no folder API: each file's bytes are gathered as a Blob made
//                   of Blob parts (a bounded scratch buffer is folded into a part
//                   whenever it fills, so the file is never held twice, nor as
//                   one concatenated copy), and handed on only after commit.
// Both coalesce the writers' many small writes (GGUF metadata is thousands of
// short strings) into blocks of CHUNK_BYTES, and report bytes as they go.
import type { ByteSink } from '../io/gguf/writer.ts';
import type { CommitSink, ExportTarget } from '../export/target.ts';

/** Writes smaller than this are gathered before they go on; larger ones go on as they are. */
export const CHUNK_BYTES = 4 << 20;

/** What a target tells its owner about each file. */
export interface TargetHooks {
  /** A file was opened for writing (before any byte of it). */
  onStart(name: string): void;
  /** `bytes` of file `name` have been written so far. */
  onBytes(name: string, bytes: number): void;
  /** The file is complete under its final name; `blob` holds it for a download target. */
  onCommit(name: string, bytes: number, blob: Blob | null): void;
  /** Thrown from a write when the export should stop (the sink is then aborted). */
  checkStop(): void;
}

/** The part of FileSystemDirectoryHandle this file uses (a fake one serves in Node tests). */
export interface DirectoryLike {
  readonly name: string;
  getFileHandle(name: string, opts?: { create?: boolean }): Promise<{ createWritable(): Promise<WritableLike> }>;
  removeEntry(name: string): Promise<void>;
}

/** The part of FileSystemWritableFileStream this file uses. */
export interface WritableLike {
  write(data: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(reason?: unknown): Promise<void>;
}

/**
 * A ByteSink that hands on blocks: small writes are copied into a scratch
 * buffer and `emit`ted (a view of it) when it fills or on flush(); a write at
 * least as large as the scratch goes on directly after what is pending. `emit`
 * must be done with the view when its promise settles (the scratch is reused).
 */
class Coalescer implements ByteSink {
  private scratch: Uint8Array | null = null;
  private fill = 0;
  bytes = 0;

  constructor(
    private readonly emit: (block: Uint8Array) => Promise<void> | void,
    private readonly onWrite: (bytes: number) => void,
    private readonly checkStop: () => void,
  ) {}

  async write(b: Uint8Array): Promise<void> {
    this.checkStop();
    if (b.length >= CHUNK_BYTES) {
      await this.flush();
      await this.emit(b);
    } else {
      if (this.fill + b.length > CHUNK_BYTES) await this.flush();
      this.scratch ??= new Uint8Array(CHUNK_BYTES);
      this.scratch.set(b, this.fill);
      this.fill += b.length;
    }
    this.bytes += b.length;
    this.onWrite(this.bytes);
  }

  async flush(): Promise<void> {
    if (this.fill === 0) return;
    const n = this.fill;
    this.fill = 0;
    await this.emit(this.scratch!.subarray(0, n));
  }

  release(): void {
    this.scratch = null;
  }
}

/** A plain file name (the exporters only create those); anything else is a bug worth stopping on. */
function checkName(name: string): void {
  if (name === '' || name.includes('/') || name.includes('\\') || name.startsWith('.')) throw new RangeError(`export file name ${JSON.stringify(name)} is not a plain file name`);
}

/** True when `dir` has no entry `name` yet (so an aborted export should leave none). */
async function isNew(dir: DirectoryLike, name: string): Promise<boolean> {
  try {
    await dir.getFileHandle(name);
    return false;
  } catch (e) {
    if ((e as { name?: string }).name === 'NotFoundError') return true;
    // A folder of that name (TypeMismatchError) or no permission: let create() say so.
    return false;
  }
}

/** Export into a folder the user picked; each file is replaced only when complete. */
export function folderTarget(dir: DirectoryLike, hooks: TargetHooks): ExportTarget {
  return {
    async create(name): Promise<CommitSink> {
      checkName(name);
      const created = await isNew(dir, name);
      const writable = await (await dir.getFileHandle(name, { create: true })).createWritable();
      hooks.onStart(name);
      const out = new Coalescer((block) => writable.write(block), (n) => hooks.onBytes(name, n), hooks.checkStop);
      return {
        write: (b) => out.write(b),
        async commit() {
          await out.flush();
          out.release();
          await writable.close(); // the file takes the new bytes only now
          hooks.onCommit(name, out.bytes, null);
        },
        async abort() {
          out.release();
          await writable.abort().catch(() => {});
          // getFileHandle(create) made an empty file; an export that failed leaves none behind.
          if (created) await dir.removeEntry(name).catch(() => {});
        },
      };
    },
  };
}

/** Export as downloads: each complete file becomes a Blob for the page to save. */
export function downloadTarget(hooks: TargetHooks): ExportTarget {
  return {
    async create(name): Promise<CommitSink> {
      checkName(name);
      hooks.onStart(name);
      // new Blob() copies its parts, so each full scratch block becomes a part at once and the scratch is reused.
      let parts: Blob[] = [];
      const out = new Coalescer((block) => void parts.push(new Blob([block as Uint8Array<ArrayBuffer>])), (n) => hooks.onBytes(name, n), hooks.checkStop);
      return {
        write: (b) => out.write(b),
        async commit() {
          await out.flush();
          out.release();
          // A Blob of Blobs refers to their bytes; nothing is copied again.
          const blob = new Blob(parts, { type: mimeOf(name) });
          parts = [];
          hooks.onCommit(name, out.bytes, blob);
        },
        async abort() {
          out.release();
          parts = []; // never handed on: a half file is never offered
        },
      };
    },
  };
}

function mimeOf(name: string): string {
  if (name.endsWith('.json')) return 'application/json';
  if (name.endsWith('.md')) return 'text/markdown';
  return 'application/octet-stream';
}
