// Files slice: what the user dropped or picked, by name and size, and the drop
// being decided on: checked by the worker first (a drop that names no model is
// refused there and changes nothing else), then, while a training run goes,
// waiting for the user to agree to stop it. The File objects themselves go
// straight to the engine worker (actions.ts) and are not kept in the store,
// which holds plain data only.
import type { StateCreator } from 'zustand/vanilla';
import { toErrorText, type ErrorText } from '../errors.ts';
import type { AppState } from '../store.ts';

export interface DroppedFile {
  /** Path inside the dropped folder ("model/config.json"), or the bare name for single files. */
  path: string;
  name: string;
  size: number;
}

/** The newest drop on "Model files" until it is loaded, refused or called off. */
export interface ModelDrop {
  /** Number of the newest drop; 0 before the first. */
  dropId: number;
  /** 'checking': the worker is told which files these are; 'confirm': a run would stop, the user is asked. */
  status: 'idle' | 'checking' | 'rejected' | 'confirm';
  /** What was dropped, in short (actions.dropLabel). */
  label: string | null;
  /** Why a rejected drop is not a model (ModelFilesError). */
  error: ErrorText | null;
}

export interface FilesSlice {
  files: DroppedFile[];
  modelDrop: ModelDrop;
  /** A new drop replaces the previous one: each drop is one model (a file or a folder). */
  filesReceived(files: DroppedFile[]): void;
  filesCleared(): void;
  modelDropStarted(label: string): number;
  modelDropRejected(dropId: number, err: unknown): void;
  modelDropNeedsConfirm(dropId: number): void;
  /** The drop goes on to a load, or was called off: the drop area shows nothing of it any more. */
  modelDropSettled(dropId: number): void;
}

export const initialModelDrop: ModelDrop = { dropId: 0, status: 'idle', label: null, error: null };

export const createFilesSlice: StateCreator<AppState, [], [], FilesSlice> = (set, get) => {
  const patchDrop = (dropId: number, p: Partial<ModelDrop>) =>
    set((s) => (s.modelDrop.dropId === dropId ? { modelDrop: { ...s.modelDrop, ...p } } : s));
  return {
    files: [],
    modelDrop: initialModelDrop,
    filesReceived: (files) => set({ files: [...files].sort((a, b) => a.path.localeCompare(b.path)) }),
    filesCleared: () => set({ files: [] }),
    modelDropStarted: (label) => {
      const dropId = get().modelDrop.dropId + 1;
      set({ modelDrop: { dropId, status: 'checking', label, error: null } });
      return dropId;
    },
    modelDropRejected: (dropId, err) => patchDrop(dropId, { status: 'rejected', error: toErrorText(err) }),
    modelDropNeedsConfirm: (dropId) => patchDrop(dropId, { status: 'confirm' }),
    modelDropSettled: (dropId) => patchDrop(dropId, { status: 'idle', error: null }),
  };
};
