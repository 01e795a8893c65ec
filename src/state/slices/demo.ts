// Demo slice: where the built-in demo ("Try the demo": public/demo/) stands —
// fetching its two files from the page's own origin, then loading, reading the
// text, training, done — and why it stopped, if it did. The steps themselves
// run through the same actions a user's drops do (src/state/demo.ts).
import type { StateCreator } from 'zustand/vanilla';
import { toErrorText, type ErrorText } from '../errors.ts';
import type { AppState } from '../store.ts';

export type DemoStep = 'idle' | 'fetching' | 'loading' | 'reading' | 'training' | 'done' | 'error';

export interface DemoState {
  step: DemoStep;
  /** Bytes of the demo files fetched so far, of their total (0 when the server gave no length). */
  fetched: number;
  total: number;
  error: ErrorText | null;
}

export interface DemoSlice {
  demo: DemoState;
  demoStep(step: Exclude<DemoStep, 'error'>): void;
  demoFetched(fetched: number, total: number): void;
  demoFailed(err: unknown): void;
}

export const initialDemoState: DemoState = { step: 'idle', fetched: 0, total: 0, error: null };

export const createDemoSlice: StateCreator<AppState, [], [], DemoSlice> = (set) => ({
  demo: initialDemoState,
  demoStep: (step) => set((s) => ({ demo: { ...s.demo, step, error: null } })),
  demoFetched: (fetched, total) => set((s) => ({ demo: { ...s.demo, fetched, total } })),
  demoFailed: (err) => set((s) => ({ demo: { ...s.demo, step: 'error', error: toErrorText(err) } })),
});
