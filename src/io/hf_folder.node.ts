// Node adapter for hf_folder.ts: a directory on disk as a FolderSource
// (regular files at its top level; each opened as a positional-read handle).
import { readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { FolderSource } from './hf_folder.ts';
import { fileSource } from './source.node.ts';

export function folderFromPath(dir: string): FolderSource {
  const abs = resolve(dir);
  const names = readdirSync(abs, { withFileTypes: true })
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => e.name);
  const known = new Set(names);
  return {
    name: basename(abs),
    list: () => names,
    async open(file) {
      // Only names the listing produced: never a path built from file contents.
      if (!known.has(file)) throw new Error(`${abs}: no file named ${JSON.stringify(file)}`);
      return fileSource(join(abs, file));
    },
  };
}
