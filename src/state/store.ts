// The app store: one vanilla Zustand store (no React here) composed from
// slices. React reads it through useStore in src/ui/hooks/useAppStore.ts;
// src/state/actions.ts feeds it from the engine worker.
import { createStore, type StoreApi } from 'zustand/vanilla';
import { createFilesSlice, type FilesSlice } from './slices/files.ts';
import { createGpuSlice, type GpuSlice } from './slices/gpu.ts';
import { createModelSlice, type ModelSlice } from './slices/model.ts';

export type AppState = GpuSlice & FilesSlice & ModelSlice;
export type AppStore = StoreApi<AppState>;

export function createAppStore(): AppStore {
  return createStore<AppState>()((...a) => ({
    ...createGpuSlice(...a),
    ...createFilesSlice(...a),
    ...createModelSlice(...a),
  }));
}
