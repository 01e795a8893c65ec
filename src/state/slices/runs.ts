// Saved runs slice: the runs the worker keeps in the browser's storage (OPFS),
// as runs-list reports them, the storage they use, and whether the browser
// granted persistent storage (without it, it may clear the site's data when
// the disk runs low). Lists are numbered so a late answer does not overwrite a newer one.
import type { StateCreator } from 'zustand/vanilla';
import type { SavedRun, SavedRunsReport } from '../../worker/protocol.ts';
import { toErrorText, type ErrorText } from '../errors.ts';
import type { AppState } from '../store.ts';

export interface RunsState {
  reqId: number;
  status: 'idle' | 'loading' | 'ready' | 'error';
  runs: SavedRun[];
  storage: SavedRunsReport['storage'];
  /** Runs whose model and data file handles are kept (state/run_files.ts): Resume needs no files for them. */
  withFiles: string[];
  /** navigator.storage.persist()'s answer; null before it was asked (at the first Start or Resume). */
  persisted: boolean | null;
  error: ErrorText | null;
}

export interface RunsSlice {
  runs: RunsState;
  runsListStarted(): number;
  runsListed(reqId: number, r: SavedRunsReport, withFiles: string[]): void;
  /** Resuming a run could not begin (its kept files could not be opened). */
  runsProblem(err: unknown): void;
  runsListFailed(reqId: number, err: unknown): void;
  runsPersisted(persisted: boolean): void;
}

export const initialRunsState: RunsState = { reqId: 0, status: 'idle', runs: [], storage: null, withFiles: [], persisted: null, error: null };

/** A saved run that has steps left; the others are finished and can be opened again to export. */
export const unfinished = (r: SavedRun) => r.problem === null && r.step < r.totalSteps;

export const createRunsSlice: StateCreator<AppState, [], [], RunsSlice> = (set, get) => ({
  runs: initialRunsState,
  runsListStarted: () => {
    const reqId = get().runs.reqId + 1;
    set((s) => ({ runs: { ...s.runs, reqId, status: 'loading' } }));
    return reqId;
  },
  runsListed: (reqId, r, withFiles) => set((s) => (s.runs.reqId === reqId ? { runs: { ...s.runs, status: 'ready', runs: r.runs, storage: r.storage, withFiles, error: null } } : s)),
  runsProblem: (err) => set((s) => ({ runs: { ...s.runs, error: toErrorText(err) } })),
  runsListFailed: (reqId, err) => set((s) => (s.runs.reqId === reqId ? { runs: { ...s.runs, status: 'error', error: toErrorText(err) } } : s)),
  runsPersisted: (persisted) => set((s) => ({ runs: { ...s.runs, persisted } })),
});
