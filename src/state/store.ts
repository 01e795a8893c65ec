// The app store: one vanilla Zustand store (no React here) composed from
// slices. React reads it through useStore in src/ui/hooks/useAppStore.ts;
// src/state/actions.ts feeds it from the engine worker.
import { createStore, type StoreApi } from 'zustand/vanilla';
import { createDemoSlice, type DemoSlice } from './slices/demo.ts';
import { createExportSlice, type ExportSlice } from './slices/export.ts';
import { createFilesSlice, type FilesSlice } from './slices/files.ts';
import { createGenerateSlice, type GenerateSlice } from './slices/generate.ts';
import { createGpuSlice, type GpuSlice } from './slices/gpu.ts';
import { createHubSlice, type HubSlice } from './slices/hub.ts';
import { createModelSlice, type ModelSlice } from './slices/model.ts';
import { createPerplexitySlice, type PerplexitySlice } from './slices/perplexity.ts';
import { createRunsSlice, type RunsSlice } from './slices/runs.ts';
import { createTrainSlice, type TrainSlice } from './slices/train.ts';

export type AppState = GpuSlice & FilesSlice & ModelSlice & GenerateSlice & PerplexitySlice & TrainSlice & RunsSlice & ExportSlice & DemoSlice & HubSlice;
export type AppStore = StoreApi<AppState>;

export function createAppStore(): AppStore {
  return createStore<AppState>()((...a) => ({
    ...createGpuSlice(...a),
    ...createFilesSlice(...a),
    ...createModelSlice(...a),
    ...createGenerateSlice(...a),
    ...createPerplexitySlice(...a),
    ...createTrainSlice(...a),
    ...createRunsSlice(...a),
    ...createExportSlice(...a),
    ...createDemoSlice(...a),
    ...createHubSlice(...a),
  }));
}
