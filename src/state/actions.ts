// Actions: the async glue between the engine client and the store. Each one
// sends requests, turns progress events into store updates and records the
// outcome, so components only read state and call these.
import type { EngineClient } from '../worker/client.ts';
import type { ModelFileRef } from '../worker/protocol.ts';
import type { AppStore } from './store.ts';

/** Ask the worker which GPU it has, then run the matmul self-test on it. */
export async function startGpu(client: EngineClient, store: AppStore): Promise<void> {
  const s = store.getState();
  s.gpuStarted();
  try {
    const info = await client.request({ type: 'gpu-info' }, s.gpuProgress);
    s.gpuInfoReceived(info);
    const result = await client.request({ type: 'selftest' }, s.gpuProgress);
    s.selftestFinished(result);
  } catch (err) {
    console.error(err);
    s.gpuFailed(err);
  }
}

/**
 * Open the dropped or picked files as the engine's model. The File objects are
 * posted to the worker unread (structured clone passes a handle); the worker
 * reads slices of them, so nothing heavy runs on the page's thread.
 */
export async function loadModel(client: EngineClient, store: AppStore, files: readonly ModelFileRef[]): Promise<void> {
  const s = store.getState();
  s.filesReceived(files.map(({ path, file }) => ({ path, name: file.name, size: file.size })));
  const loadId = s.modelLoadStarted(dropLabel(files));
  try {
    const result = await client.request({ type: 'load-model', files: [...files] }, (p) => s.modelProgress(loadId, p));
    s.modelLoaded(loadId, result);
  } catch (err) {
    // A load replaced by a newer drop fails too; the slice ignores it by its number.
    if (store.getState().model.loadId === loadId) console.error(err);
    s.modelFailed(loadId, err);
  }
}

/** "stories260K.gguf", "stories260K/ (6 files)" or "3 files": what the user dropped, in short. */
export function dropLabel(files: readonly ModelFileRef[]): string {
  const paths = files.map((f) => f.path || f.file.name);
  if (paths.length === 1) return paths[0];
  const tops = new Set(paths.map((p) => (p.includes('/') ? p.slice(0, p.indexOf('/')) : '')));
  const [top] = tops;
  const count = `${paths.length} files`;
  return tops.size === 1 && top ? `${top}/ (${count})` : count;
}

/** Everything the app does when the page opens. */
export function startup(client: EngineClient, store: AppStore): Promise<void> {
  return startGpu(client, store);
}
