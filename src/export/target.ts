// Where an export goes, and what every exporter shares. An export is one file
// (GGUF) or a folder of files (PEFT, GPTQ, a GGUF with its LoRA adapter); each
// file is written through a sink that is committed only when complete, so a
// failed write never leaves a half file under its final name: Node writes
// `<name>.partial` and renames (src/io/sink.node.ts), the browser writes through
// the File System Access API (whose writable only replaces the file on close)
// or collects a Blob that is offered for download only after commit.
import { Sub4Error } from '../base/errors.ts';
import type { ByteSink } from '../io/gguf/writer.ts';

export interface CommitSink extends ByteSink {
  /** Make the file visible under its final name. */
  commit(): Promise<void>;
  /** Drop whatever was written. */
  abort(): Promise<void>;
}

/** A folder (or a single-file download) that export files are created in. */
export interface ExportTarget {
  /** A plain file name (no folders): 'model.gguf', 'adapter_config.json'. */
  create(name: string): Promise<CommitSink>;
}

/** An export that cannot be made: names the format and what stands in the way. */
export class ExportError extends Sub4Error {
  constructor(
    readonly format: string,
    readonly detail: string,
  ) {
    super(`${format} export: ${detail}`);
  }
}

/** Write one file: the producer streams into the sink; commit on success, abort (and rethrow) on failure. */
export async function writeExportFile(target: ExportTarget, name: string, produce: (sink: ByteSink) => Promise<void> | void): Promise<void> {
  const sink = await target.create(name);
  try {
    await produce(sink);
    await sink.commit();
  } catch (e) {
    await sink.abort();
    throw e;
  }
}

/** A whole file from bytes or text. */
export function writeWholeFile(target: ExportTarget, name: string, content: Uint8Array | string): Promise<void> {
  const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
  return writeExportFile(target, name, (sink) => sink.write(bytes));
}
