// Export slice: what the last trained run can be exported to (asked once per
// run), and the export in progress or last finished: the file being written
// and its bytes, the files already complete (with a link to save each again,
// for downloads), the notes of the exporter, the outcome. Choices and jobs are
// numbered like the other requests, so a late answer of an older one is dropped.
import type { StateCreator } from 'zustand/vanilla';
import type { ExportFormat } from '../../export/export.ts';
import type { ExportChoicesReport, ExportReport, ExportStream } from '../../worker/protocol.ts';
import { toErrorText, type ErrorText } from '../errors.ts';
import type { AppState } from '../store.ts';

export interface ExportChoicesState {
  reqId: number;
  /** The training run (train slice's runId) and model load the choices were asked for. */
  runId: number;
  loadId: number;
  status: 'idle' | 'loading' | 'ready' | 'error';
  report: ExportChoicesReport | null;
  error: ErrorText | null;
}

export interface ExportedFile {
  name: string;
  bytes: number;
  /** An object URL of the file's Blob (downloads), to save it again; null for a folder export. */
  url: string | null;
}

export interface ExportJobState {
  jobId: number;
  status: 'idle' | 'exporting' | 'done' | 'cancelled' | 'error';
  format: ExportFormat | null;
  destination: 'folder' | 'download' | null;
  folder: string | null;
  /** The file being written; null between files and when finished. */
  current: { file: string; index: number; total: number; bytes: number; expectedBytes: number | null } | null;
  /** Worker phase before the first file ('reading the run', 'rebuilding the model'). */
  phase: string | null;
  files: ExportedFile[];
  notes: string[];
  seconds: number | null;
  error: ErrorText | null;
}

export interface ExportState {
  choices: ExportChoicesState;
  job: ExportJobState;
}

export interface ExportSlice {
  export: ExportState;
  exportChoicesStarted(runId: number, loadId: number): number;
  exportChoicesReceived(reqId: number, r: ExportChoicesReport): void;
  exportChoicesFailed(reqId: number, err: unknown): void;
  exportStarted(format: ExportFormat, destination: 'folder' | 'download', folder: string | null): number;
  exportPhase(jobId: number, phase: string): void;
  /** A stream event; `url` is the object URL the page made for a downloaded file. */
  exportStream(jobId: number, e: ExportStream, url: string | null): void;
  exportFinished(jobId: number, r: ExportReport): void;
  exportFailed(jobId: number, err: unknown): void;
}

export const initialExportJob: ExportJobState = {
  jobId: 0,
  status: 'idle',
  format: null,
  destination: null,
  folder: null,
  current: null,
  phase: null,
  files: [],
  notes: [],
  seconds: null,
  error: null,
};

export const initialExportState: ExportState = {
  choices: { reqId: 0, runId: 0, loadId: 0, status: 'idle', report: null, error: null },
  job: initialExportJob,
};

/** The bar's fraction: whole files done, plus the share of the current file when its size is known. */
export function exportedFraction(j: ExportJobState): number {
  if (j.status === 'done') return 1;
  const c = j.current;
  const total = c?.total ?? 0;
  if (!c || total === 0) return 0;
  const within = c.expectedBytes ? Math.min(0.99, c.bytes / c.expectedBytes) : 0;
  return Math.min(1, (c.index + within) / total);
}

export const createExportSlice: StateCreator<AppState, [], [], ExportSlice> = (set, get) => {
  const patchChoices = (reqId: number, p: Partial<ExportChoicesState>) =>
    set((s) => (s.export.choices.reqId === reqId ? { export: { ...s.export, choices: { ...s.export.choices, ...p } } } : s));
  const patchJob = (jobId: number, p: (j: ExportJobState) => Partial<ExportJobState>) =>
    set((s) => (s.export.job.jobId === jobId ? { export: { ...s.export, job: { ...s.export.job, ...p(s.export.job) } } } : s));
  return {
    export: initialExportState,

    exportChoicesStarted: (runId, loadId) => {
      const reqId = get().export.choices.reqId + 1;
      set((s) => {
        // A new run's panel starts without the last run's export (one still being written stays to its end).
        const fresh = s.export.choices.runId !== runId && s.export.job.status !== 'exporting';
        const job = fresh ? { ...initialExportJob, jobId: s.export.job.jobId } : s.export.job;
        return { export: { choices: { reqId, runId, loadId, status: 'loading', report: null, error: null }, job } };
      });
      return reqId;
    },
    exportChoicesReceived: (reqId, r) => patchChoices(reqId, { status: 'ready', report: r }),
    exportChoicesFailed: (reqId, err) => patchChoices(reqId, { status: 'error', error: toErrorText(err) }),

    exportStarted: (format, destination, folder) => {
      const jobId = get().export.job.jobId + 1;
      set((s) => ({ export: { ...s.export, job: { ...initialExportJob, jobId, status: 'exporting', format, destination, folder } } }));
      return jobId;
    },
    exportPhase: (jobId, phase) => patchJob(jobId, () => ({ phase })),
    exportStream: (jobId, e, url) =>
      patchJob(jobId, (j) =>
        e.type === 'writing'
          ? { current: { file: e.file, index: e.index, total: e.total, bytes: e.bytes, expectedBytes: e.expectedBytes }, phase: null }
          : { current: { file: e.file, index: e.index + 1, total: e.total, bytes: e.bytes, expectedBytes: null }, files: [...j.files, { name: e.file, bytes: e.bytes, url }] },
      ),
    exportFinished: (jobId, r) => patchJob(jobId, () => ({ status: 'done', current: null, phase: null, notes: r.notes, seconds: r.seconds, folder: r.folder })),
    exportFailed: (jobId, err) => {
      const e = toErrorText(err);
      patchJob(jobId, () => ({ status: e.name === 'CancelledError' ? 'cancelled' : 'error', current: null, phase: null, error: e }));
    },
  };
};
