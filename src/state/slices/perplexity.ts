// Perplexity slice: the evaluation of a dropped text file by the engine worker,
// its progress (the bar) and its result. Runs are numbered: events of an older
// run are dropped, so the bar never mixes two evaluations.
import type { StateCreator } from 'zustand/vanilla';
import type { PerplexityReport, ProgressEvent } from '../../worker/protocol.ts';
import { toErrorText, type ErrorText } from '../errors.ts';
import type { AppState } from '../store.ts';
import type { RunProgress, RunStatus } from './generate.ts';

export interface PerplexityState {
  status: RunStatus;
  runId: number;
  /** The text file of this run, and its settings. */
  file: string | null;
  ctx: number;
  windows: number;
  progress: RunProgress | null;
  result: PerplexityReport | null;
  error: ErrorText | null;
}

export interface PerplexitySlice {
  perplexity: PerplexityState;
  perplexityStarted(file: string, ctx: number, windows: number): number;
  perplexityProgress(runId: number, p: ProgressEvent): void;
  perplexityFinished(runId: number, r: PerplexityReport): void;
  perplexityFailed(runId: number, err: unknown): void;
}

export const initialPerplexityState: PerplexityState = {
  status: 'idle',
  runId: 0,
  file: null,
  ctx: 0,
  windows: 0,
  progress: null,
  result: null,
  error: null,
};

/** Fraction of the evaluation done, 0..1, for the bar: windows scored of those asked for. */
export function evaluatedFraction(p: PerplexityState): number {
  if (p.status === 'done') return 1;
  const pr = p.progress;
  if (!pr || pr.phase !== 'evaluating' || pr.total <= 0) return 0;
  return Math.min(1, pr.done / pr.total);
}

export const createPerplexitySlice: StateCreator<AppState, [], [], PerplexitySlice> = (set, get) => {
  const patch = (runId: number, p: Partial<PerplexityState>) =>
    set((s) => (s.perplexity.runId === runId ? { perplexity: { ...s.perplexity, ...p } } : s));
  return {
    perplexity: initialPerplexityState,
    perplexityStarted: (file, ctx, windows) => {
      const runId = get().perplexity.runId + 1;
      set({ perplexity: { ...initialPerplexityState, status: 'running', runId, file, ctx, windows } });
      return runId;
    },
    perplexityProgress: (runId, p) => patch(runId, { progress: { phase: p.phase, done: p.done, total: p.total } }),
    // The last progress stays: the bar keeps showing the windows that were scored.
    perplexityFinished: (runId, r) => patch(runId, { status: 'done', result: r }),
    perplexityFailed: (runId, err) => patch(runId, { status: 'error', error: toErrorText(err) }),
  };
};
