// Request and event shapes of the export panel's worker jobs (src/worker/export.ts),
// rows of the one protocol (protocol.ts maps them to request names).
import type { ExportChoice, ExportFormat } from '../export/export.ts';

/** What the last trained run can be written to (exportChoices of its tuned model). */
export interface ExportChoicesReport {
  run: { method: string; steps: number; base: string; data: string };
  choices: ExportChoice[];
}

/**
 * Where an export goes: a folder the page picked with showDirectoryPicker (the
 * handle survives structured clone; the worker writes into it), or downloads
 * (each complete file comes back as a Blob in the stream).
 */
export type ExportDestination = { kind: 'folder'; dir: FileSystemDirectoryHandle } | { kind: 'download' };

export interface ExportParams {
  format: ExportFormat;
  destination: ExportDestination;
}

/**
 * What an export streams. `index` counts files from 0; `total` is the files the
 * format writes (0 when not known ahead: GPTQ copies what the base folder has).
 * `expectedBytes` is the file's likely size when known (a GGUF of a GGUF base).
 */
export type ExportStream =
  | { type: 'writing'; file: string; index: number; total: number; bytes: number; expectedBytes: number | null }
  /** The file is complete under its name; `blob` carries it for a download (null for a folder). */
  | { type: 'written'; file: string; index: number; total: number; bytes: number; blob: Blob | null };

export interface ExportReport {
  format: ExportFormat;
  files: { name: string; bytes: number }[];
  notes: string[];
  destination: 'folder' | 'download';
  /** The picked folder's name (folder exports). */
  folder: string | null;
  seconds: number;
}

/** Parameters of each request, keyed by its `type`. */
