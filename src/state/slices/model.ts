// Model slice: the model the engine worker has open, or is opening, or failed
// to open. Loads are numbered: a second drop while the first still loads
// starts a new number, and events of the older load are dropped here, so the
// card never shows a mix of two models.
import type { StateCreator } from 'zustand/vanilla';
import type { ModelFacts } from '../../model/facts.ts';
import type { LoadSplit, ModelLoaded, ProgressEvent, WeightsPlaced } from '../../worker/protocol.ts';
import { toErrorText, type ErrorText } from '../errors.ts';
import type { AppState } from '../store.ts';
import { withoutModelResults } from './stale.ts';

export type ModelStatus = 'idle' | 'loading' | 'ready' | 'error' | 'cancelled';

/** The load step the worker reported last ('config', 'reading header', 'tokenizer', 'facts'). */
export interface LoadProgress {
  phase: string;
  done: number;
  total: number;
}

export interface ModelState {
  status: ModelStatus;
  /** What the user dropped, in short: "stories260K.gguf", "stories260K/ (6 files)". */
  label: string | null;
  facts: ModelFacts | null;
  /** Dropped paths the model was opened from, and those it did not use. */
  opened: string[];
  ignored: string[];
  /** Storage types of the per-layer linear weights (for the planned-export hint). */
  linearTypes: string[];
  error: ErrorText | null;
  progress: LoadProgress | null;
  /** Where opening took its time (read, parse, facts). */
  split: LoadSplit | null;
  /** Where putting the weights on the GPU took its time, once a request that runs the model (Generate, Evaluate, Calibrate, training) did it. */
  weightsSplit: LoadSplit | null;
  /** Number of the newest load; 0 before the first. */
  loadId: number;
}

export interface ModelSlice {
  model: ModelState;
  /** A new load replaces whatever was shown; returns its number for the calls below. */
  modelLoadStarted(label: string): number;
  modelProgress(loadId: number, p: ProgressEvent): void;
  modelLoaded(loadId: number, result: ModelLoaded): void;
  modelFailed(loadId: number, err: unknown): void;
  /** The user cancelled the load: nothing is open. */
  modelCancelled(loadId: number): void;
  /** A request's answer on load `loadId`: when it put the weights on the GPU (r.weights), the card shows how long that took. */
  modelWeightsPlaced(loadId: number, r: WeightsPlaced): void;
}

export const initialModelState: ModelState = {
  status: 'idle',
  label: null,
  facts: null,
  opened: [],
  ignored: [],
  linearTypes: [],
  error: null,
  progress: null,
  split: null,
  weightsSplit: null,
  loadId: 0,
};

export const createModelSlice: StateCreator<AppState, [], [], ModelSlice> = (set, get) => {
  /** Apply `p` only while `loadId` is still the newest load. */
  const patchIfLatest = (loadId: number, p: Partial<ModelState>) =>
    set((s) => (s.model.loadId === loadId ? { model: { ...s.model, ...p } } : s));
  return {
    model: initialModelState,
    modelLoadStarted: (label) => {
      const loadId = get().model.loadId + 1;
      set((s) => ({ ...withoutModelResults(s), model: { ...initialModelState, status: 'loading', label, loadId } }));
      return loadId;
    },
    modelProgress: (loadId, p) => patchIfLatest(loadId, { progress: { phase: p.phase, done: p.done, total: p.total } }),
    modelLoaded: (loadId, r) => patchIfLatest(loadId, { status: 'ready', facts: r.facts, opened: r.opened, ignored: r.ignored, linearTypes: r.linearTypes, split: r.split, progress: null }),
    modelFailed: (loadId, err) => patchIfLatest(loadId, { status: 'error', error: toErrorText(err), progress: null }),
    modelCancelled: (loadId) => patchIfLatest(loadId, { status: 'cancelled', progress: null }),
    modelWeightsPlaced: (loadId, r) => {
      if (r.weights) patchIfLatest(loadId, { weightsSplit: r.weights });
    },
  };
};
