// GPU slice: what the engine worker's device is and how the matmul self-test
// went. Transitions are named after what happened; actions.ts calls them.
import type { StateCreator } from 'zustand/vanilla';
import type { AdapterSummary, LimitName } from '../../gpu/device.ts';
import type { GpuInfo, ProgressEvent, SelfTestReport } from '../../worker/protocol.ts';
import { toErrorText, type ErrorText } from '../errors.ts';
import type { AppState } from '../store.ts';

export type GpuStatus = 'idle' | 'running' | 'ready' | 'error';

export interface GpuState {
  status: GpuStatus;
  adapter: AdapterSummary | null;
  limits: Record<LimitName, number> | null;
  features: GpuInfo['features'] | null;
  selftest: SelfTestReport | null;
  /** The step the worker reported last while running ('device', 'selftest'). */
  phase: string | null;
  error: ErrorText | null;
}

export interface GpuSlice {
  gpu: GpuState;
  gpuStarted(): void;
  gpuProgress(p: ProgressEvent): void;
  gpuInfoReceived(info: GpuInfo): void;
  selftestFinished(result: SelfTestReport): void;
  gpuFailed(err: unknown): void;
}

export const initialGpuState: GpuState = {
  status: 'idle',
  adapter: null,
  limits: null,
  features: null,
  selftest: null,
  phase: null,
  error: null,
};

export const createGpuSlice: StateCreator<AppState, [], [], GpuSlice> = (set) => {
  const patch = (p: Partial<GpuState>) => set((s) => ({ gpu: { ...s.gpu, ...p } }));
  return {
    gpu: initialGpuState,
    gpuStarted: () => set({ gpu: { ...initialGpuState, status: 'running' } }),
    gpuProgress: (p) => patch({ phase: p.phase }),
    gpuInfoReceived: (info) => patch({ adapter: info.adapter, limits: info.limits, features: info.features }),
    selftestFinished: (result) => patch({ selftest: result, status: 'ready', phase: null }),
    gpuFailed: (err) => patch({ status: 'error', phase: null, error: toErrorText(err) }),
  };
};

/** The self-test's one-word state, as the panel and the e2e test read it. */
export type SelftestStatus = 'running' | 'passed' | 'failed' | 'error';

export function selftestStatus(g: GpuState): SelftestStatus {
  if (g.status === 'error') return 'error';
  if (g.selftest) return g.selftest.passed ? 'passed' : 'failed';
  // 'idle' lasts only until startup() runs, which main.tsx does before the first render.
  return 'running';
}
