// An in-memory ExportTarget for export tests: committed files by name, and a
// log of what was aborted, so a test sees that a failed export leaves nothing.
import type { CommitSink, ExportTarget } from '../../src/export/target.ts';

export interface MemoryTarget extends ExportTarget {
  files: Map<string, Uint8Array>;
  aborted: string[];
  text(name: string): string;
}

export function memoryTarget(): MemoryTarget {
  const files = new Map<string, Uint8Array>();
  const aborted: string[] = [];
  return {
    files,
    aborted,
    text: (name) => new TextDecoder().decode(files.get(name)),
    async create(name): Promise<CommitSink> {
      const chunks: Uint8Array[] = [];
      return {
        write: (b) => void chunks.push(b.slice()),
        async commit() {
          const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
          let o = 0;
          for (const c of chunks) (out.set(c, o), (o += c.length));
          files.set(name, out);
        },
        async abort() {
          aborted.push(name);
        },
      };
    },
  };
}
