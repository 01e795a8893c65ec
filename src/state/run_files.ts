// The model and data files of each saved run, as FileSystemFileHandles kept in
// IndexedDB (handles survive a reload there; Files do not), so Resume after a
// reload can open the same files again without the user finding them: the
// browser asks for read permission again, in the Resume click. Handles exist
// only for files opened through the File System Access picker (showOpenFilePicker);
// a plain <input> or a drop gives none, and then Resume asks for the files,
// which the worker checks by identity. Which handles belong to the files now
// open is noted here as files are opened, and written under a run's id when the
// worker names the run.

/** The handle of the open model file and of the open data file; null after a pick or drop without one. */
export interface OpenHandles {
  model: FileSystemFileHandle | null;
  data: FileSystemFileHandle | null;
}

const open: OpenHandles = { model: null, data: null };

export function noteModelHandle(h: FileSystemFileHandle | null): void {
  open.model = h;
}

export function noteDataHandle(h: FileSystemFileHandle | null): void {
  open.data = h;
}

const DB = 'sub4';
const STORE = 'run-files';

function db(): Promise<IDBDatabase | null> {
  if (typeof indexedDB === 'undefined') return Promise.resolve(null);
  return new Promise((resolve) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    // No IndexedDB (a private window may refuse it): handles are simply not kept.
    req.onerror = () => resolve(null);
  });
}

async function tx<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T | null> {
  const d = await db();
  if (!d) return null;
  try {
    return await new Promise<T>((resolve, reject) => {
      const r = fn(d.transaction(STORE, mode).objectStore(STORE));
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error ?? new Error(`IndexedDB ${DB}/${STORE}: the request failed`));
    });
  } finally {
    d.close();
  }
}

/** Keep the open files' handles under run `id`, when both files came with one. */
export async function rememberRunFiles(id: string): Promise<void> {
  if (!open.model || !open.data) return;
  await tx('readwrite', (s) => s.put({ model: open.model, data: open.data }, id)).catch((e: unknown) => console.error(e));
}

export async function recallRunFiles(id: string): Promise<{ model: FileSystemFileHandle; data: FileSystemFileHandle } | null> {
  const v = await tx<{ model: FileSystemFileHandle; data: FileSystemFileHandle } | undefined>('readonly', (s) => s.get(id)).catch(() => null);
  return v ?? null;
}

/** Ids of the runs whose files are kept. */
export async function runsWithFiles(): Promise<string[]> {
  return ((await tx<IDBValidKey[]>('readonly', (s) => s.getAllKeys()).catch(() => null)) ?? []).map(String);
}

export async function forgetRunFiles(id: string): Promise<void> {
  await tx('readwrite', (s) => s.delete(id)).catch(() => null);
}

type Permissioned = FileSystemFileHandle & {
  queryPermission?(o: { mode: 'read' }): Promise<PermissionState>;
  requestPermission?(o: { mode: 'read' }): Promise<PermissionState>;
};

/** The kept files, once the browser grants reading them again (asked in the user's click); why not, in words. */
export async function openKeptFiles(h: { model: FileSystemFileHandle; data: FileSystemFileHandle }): Promise<{ model: File; data: File }> {
  for (const handle of [h.model, h.data] as Permissioned[]) {
    const state = (await handle.queryPermission?.({ mode: 'read' })) ?? 'granted';
    if (state !== 'granted' && (await handle.requestPermission?.({ mode: 'read' })) !== 'granted')
      throw new Error(`${handle.name}: the browser did not allow reading this file again; open it with "Choose files…" to resume the run`);
  }
  return { model: await h.model.getFile(), data: await h.data.getFile() };
}

/** The browser's file picker, where there is one (Chromium); null elsewhere. */
export function filePicker(): ((o: { id: string; types?: { description: string; accept: Record<string, string[]> }[] }) => Promise<FileSystemFileHandle[]>) | null {
  const w = typeof window === 'undefined' ? undefined : (window as unknown as { showOpenFilePicker?: (o: unknown) => Promise<FileSystemFileHandle[]> });
  return w?.showOpenFilePicker ? (o) => w.showOpenFilePicker!(o) : null;
}
