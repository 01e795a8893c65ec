// Node: an export target that is a folder on disk. Each file is written to
// `<name>.partial` and renamed when complete (src/io/sink.node.ts), so a failed
// export leaves no file under a final name that looks finished.
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileSink } from '../io/sink.node.ts';
import type { ExportTarget } from './target.ts';

export async function folderTarget(dir: string): Promise<ExportTarget> {
  await mkdir(dir, { recursive: true });
  return {
    async create(name) {
      if (name !== basename(name) || name === '' || name.startsWith('.')) throw new RangeError(`export file name ${JSON.stringify(name)} is not a plain file name`);
      return fileSink(join(dir, name));
    },
  };
}
