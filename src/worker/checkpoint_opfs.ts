// The studio's checkpoint store: one folder per run in the origin-private file
// system (OPFS), sub4-runs/<run id>/checkpoint.safetensors (+ best.safetensors
// with the held-out guard). The engine's Checkpointer writes through it exactly
// as `sub4 tune` writes through a folder (src/train/checkpoint/store.node.ts).
//
// Atomic without a rename: a FileSystemWritableFileStream writes into a swap
// file and only replaces the file's contents when close() resolves; abort() (or
// a killed tab) drops the swap file. So the old checkpoint stays readable until
// the new one is complete. Before each write the site's quota is checked
// (navigator.storage.estimate): a write that cannot fit is refused in words
// before anything is touched, and a QuotaExceededError mid-write is the same
// error, the old checkpoint intact.
import { CheckpointWriteError } from '../train/checkpoint/errors.ts';
import type { CheckpointStore } from '../train/checkpoint/store.ts';

/** The folder of every run's checkpoints under the OPFS root. */
export const RUNS_DIR = 'sub4-runs';

/** Room left beyond the checkpoint itself: the browser's own bookkeeping and the run's other file. */
const MARGIN_BYTES = 1 << 20;

export type Estimate = () => Promise<{ usage?: number; quota?: number }>;

export const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** The folder that holds every run (created on first use). */
export async function runsFolder(): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(RUNS_DIR, { create: true });
}

const isNotFound = (e: unknown) => (e as { name?: string })?.name === 'NotFoundError';

/** The store of run `runId` inside `runs`; `estimate` is navigator.storage.estimate (injected for tests). */
export function opfsStore(runs: FileSystemDirectoryHandle, runId: string, estimate: Estimate): CheckpointStore {
  const describe = (name: string) => `browser storage ${RUNS_DIR}/${runId}/${name}`;
  // Writes run one at a time: a checkpoint asked for by a hidden tab may come while a step's own is written.
  let queue: Promise<unknown> = Promise.resolve();
  const write = async (name: string, bytes: Uint8Array) => {
    const path = describe(name);
    const { usage, quota } = await estimate().catch(() => ({ usage: undefined, quota: undefined }));
    if (usage !== undefined && quota !== undefined && quota - usage < bytes.length + MARGIN_BYTES)
      throw new CheckpointWriteError(
        path,
        `the browser's storage for this page is full (${mib(Math.max(0, quota - usage))} free of ${mib(quota)}; the checkpoint needs ${mib(bytes.length)}), so it was not written; the previous checkpoint is kept. Delete old runs under "Saved runs" to make room`,
      );
    let w: FileSystemWritableFileStream | undefined;
    try {
      const dir = await runs.getDirectoryHandle(runId, { create: true });
      const fh = await dir.getFileHandle(name, { create: true });
      w = await fh.createWritable({ keepExistingData: false });
      await w.write(bytes as Uint8Array<ArrayBuffer>);
      await w.close();
    } catch (e) {
      await w?.abort().catch(() => {});
      const full = (e as { name?: string })?.name === 'QuotaExceededError';
      const why = full ? "the browser's storage for this page is full" : (e as Error).message;
      throw new CheckpointWriteError(path, `the checkpoint could not be written: ${why}; the previous checkpoint is kept`, { cause: e });
    }
  };
  return {
    where: `this browser's storage (run ${runId})`,
    describe,
    write(name, bytes) {
      const done = queue.then(() => write(name, bytes));
      queue = done.catch(() => {});
      return done;
    },
    async read(name) {
      try {
        const dir = await runs.getDirectoryHandle(runId);
        const file = await (await dir.getFileHandle(name)).getFile();
        return new Uint8Array(await file.arrayBuffer());
      } catch (e) {
        if (isNotFound(e)) return null;
        throw e;
      }
    },
  };
}

/** The files of one run's folder, or null when the run has no folder. */
export async function runFiles(runs: FileSystemDirectoryHandle, runId: string): Promise<Map<string, File> | null> {
  let dir: FileSystemDirectoryHandle;
  try {
    dir = await runs.getDirectoryHandle(runId);
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
  const files = new Map<string, File>();
  for await (const [name, h] of (dir as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries())
    if (h.kind === 'file') files.set(name, await (h as FileSystemFileHandle).getFile());
  return files;
}

/** Every run folder's name. */
export async function runIds(runs: FileSystemDirectoryHandle): Promise<string[]> {
  const ids: string[] = [];
  for await (const [name, h] of (runs as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) if (h.kind === 'directory') ids.push(name);
  return ids.sort();
}
