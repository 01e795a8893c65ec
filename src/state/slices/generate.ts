// Generate slice: the text the engine worker is generating (or generated last),
// as it streams in, and how the run ended. Runs are numbered like model loads:
// events of an older run (a late token after a new Generate) are dropped here.
import type { StateCreator } from 'zustand/vanilla';
import type { Generated, GeneratedToken, ProgressEvent } from '../../worker/protocol.ts';
import { toErrorText, type ErrorText } from '../errors.ts';
import type { AppState } from '../store.ts';

export type RunStatus = 'idle' | 'running' | 'done' | 'error';

/** The step a run reported last ('device', 'uploading weights', 'evaluating'...), with its counts. */
export interface RunProgress {
  phase: string;
  done: number;
  total: number;
}

export interface GenerateState {
  status: RunStatus;
  /** Number of the newest run; 0 before the first. */
  runId: number;
  /** The prompt of this run, shown before its continuation. */
  prompt: string;
  /** The continuation so far (streamed), then the complete text from the result. */
  text: string;
  /** Tokens received so far. */
  tokens: number;
  /** What the worker does before the first token (device, weights upload); null once tokens flow. */
  progress: RunProgress | null;
  /** The outcome: speed and why it stopped. */
  result: Omit<Generated, 'tokens' | 'text'> | null;
  /** Stop was pressed; the worker stops at its next token. */
  stopping: boolean;
  error: ErrorText | null;
}

export interface GenerateSlice {
  generation: GenerateState;
  /** A new run replaces the shown one; returns its number for the calls below. */
  generateStarted(prompt: string): number;
  generateProgress(runId: number, p: ProgressEvent): void;
  generateToken(runId: number, t: GeneratedToken): void;
  generateStopping(runId: number): void;
  generateFinished(runId: number, r: Generated): void;
  generateFailed(runId: number, err: unknown): void;
}

export const initialGenerateState: GenerateState = {
  status: 'idle',
  runId: 0,
  prompt: '',
  text: '',
  tokens: 0,
  progress: null,
  result: null,
  stopping: false,
  error: null,
};

export const createGenerateSlice: StateCreator<AppState, [], [], GenerateSlice> = (set, get) => {
  const patch = (runId: number, p: (g: GenerateState) => Partial<GenerateState>) =>
    set((s) => (s.generation.runId === runId ? { generation: { ...s.generation, ...p(s.generation) } } : s));
  return {
    generation: initialGenerateState,
    generateStarted: (prompt) => {
      const runId = get().generation.runId + 1;
      set({ generation: { ...initialGenerateState, status: 'running', runId, prompt } });
      return runId;
    },
    generateProgress: (runId, p) => patch(runId, () => ({ progress: { phase: p.phase, done: p.done, total: p.total } })),
    generateToken: (runId, t) => patch(runId, (g) => ({ text: g.text + t.text, tokens: g.tokens + 1, progress: null })),
    generateStopping: (runId) => patch(runId, (g) => (g.status === 'running' ? { stopping: true } : {})),
    generateFinished: (runId, r) =>
      patch(runId, () => {
        const { tokens, text, ...result } = r;
        return { status: 'done', text, tokens: tokens.length, result, progress: null, stopping: false };
      }),
    generateFailed: (runId, err) => patch(runId, () => ({ status: 'error', error: toErrorText(err), progress: null, stopping: false })),
  };
};
