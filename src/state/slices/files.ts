// Files slice: what the user dropped or picked, by name and size. The File
// objects themselves go straight to the engine worker (actions.loadModel) and
// are not kept in the store, which holds plain data only.
import type { StateCreator } from 'zustand/vanilla';
import type { AppState } from '../store.ts';

export interface DroppedFile {
  /** Path inside the dropped folder ("model/config.json"), or the bare name for single files. */
  path: string;
  name: string;
  size: number;
}

export interface FilesSlice {
  files: DroppedFile[];
  /** A new drop replaces the previous one: each drop is one model (a file or a folder). */
  filesReceived(files: DroppedFile[]): void;
  filesCleared(): void;
}

export const createFilesSlice: StateCreator<AppState, [], [], FilesSlice> = (set) => ({
  files: [],
  filesReceived: (files) => set({ files: [...files].sort((a, b) => a.path.localeCompare(b.path)) }),
  filesCleared: () => set({ files: [] }),
});
