// Node: a checkpoint store over a folder (the run's --out). Each blob is
// written through io/sink.node.ts (`NAME.partial`, fsync, rename), so the
// previous checkpoint stays readable until the new one is complete; a failed
// write removes its partial file and becomes a CheckpointWriteError saying
// why in words (ENOSPC: the disk is full).
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileSink, type FileSink } from '../../io/sink.node.ts';
import { CheckpointWriteError } from './errors.ts';
import type { CheckpointStore } from './store.ts';

const WHY: Record<string, string> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EACCES: 'no permission to write there',
  EPERM: 'no permission to write there',
  EROFS: 'the file system is read-only',
  ENOENT: 'the folder does not exist',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EIO: 'the disk reported an I/O error',
};

/**
 * Tests only: SUB4_TEST_CHECKPOINT_STALL=<ms> makes every write stop halfway
 * for that long, with the partial file on disk, so a test can SIGKILL the
 * process in the middle of a checkpoint write. Unset, writes never wait.
 */
const stallMs = (): number => Number(process.env.SUB4_TEST_CHECKPOINT_STALL ?? 0) || 0;

export function folderStore(dir: string): CheckpointStore {
  const describe = (name: string) => join(dir, name);
  return {
    where: dir,
    describe,
    async write(name, bytes) {
      const path = describe(name);
      let sink: FileSink | undefined;
      try {
        await mkdir(dir, { recursive: true });
        sink = await fileSink(path);
        const half = bytes.length >> 1;
        const stall = stallMs();
        if (stall > 0) {
          await sink.write(bytes.subarray(0, half));
          await new Promise((r) => setTimeout(r, stall));
          await sink.write(bytes.subarray(half));
        } else await sink.write(bytes);
        await sink.commit();
      } catch (e) {
        await sink?.abort();
        const code = (e as NodeJS.ErrnoException).code ?? '';
        const why = WHY[code] ?? (e as Error).message;
        throw new CheckpointWriteError(path, `the checkpoint could not be written: ${why}${code && WHY[code] ? ` (${code})` : ''}; the previous checkpoint is kept`, { cause: e });
      }
    },
    async read(name) {
      try {
        return new Uint8Array(await readFile(describe(name)));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
    },
  };
}
