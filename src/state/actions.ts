// Actions: the async glue between the engine client and the store. Each one
// sends requests, turns progress events into store updates and records the
// outcome, so components only read state and call these.
import type { EngineClient } from '../worker/client.ts';
import type { GenerateParams, ModelFileRef } from '../worker/protocol.ts';
import type { AppStore } from './store.ts';

/** The Stop button's handle on the running generation; kept here because the store holds plain data only. */
const generations = new WeakMap<AppStore, { runId: number; abort: AbortController }>();

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

/**
 * Continue a prompt with the loaded model: tokens stream into the store as the
 * worker makes them; a new call replaces the shown run (the older one is stopped).
 */
export async function generateText(client: EngineClient, store: AppStore, params: GenerateParams): Promise<void> {
  const s = store.getState();
  generations.get(store)?.abort.abort();
  const runId = s.generateStarted(params.prompt);
  const abort = new AbortController();
  generations.set(store, { runId, abort });
  try {
    const r = await client.request(
      { type: 'generate', ...params },
      (p) => s.generateProgress(runId, p),
      (t) => s.generateToken(runId, t),
      abort.signal,
    );
    s.generateFinished(runId, r);
  } catch (err) {
    if (store.getState().generation.runId === runId) console.error(err);
    s.generateFailed(runId, err);
  } finally {
    if (generations.get(store)?.runId === runId) generations.delete(store);
  }
}

/** Ask the worker to stop the running generation at its next token; it resolves with the text so far. */
export function stopGeneration(store: AppStore): void {
  const g = generations.get(store);
  if (!g) return;
  store.getState().generateStopping(g.runId);
  g.abort.abort();
}

/** Perplexity of a dropped or picked text file (the File goes to the worker unread). */
export async function evaluatePerplexity(client: EngineClient, store: AppStore, file: File, ctx: number, windows: number): Promise<void> {
  const s = store.getState();
  const runId = s.perplexityStarted(file.name, ctx, windows);
  try {
    const r = await client.request({ type: 'perplexity', file, name: file.name, ctx, windows }, (p) => s.perplexityProgress(runId, p));
    s.perplexityFinished(runId, r);
  } catch (err) {
    if (store.getState().perplexity.runId === runId) console.error(err);
    s.perplexityFailed(runId, err);
  }
}

/** Everything the app does when the page opens. */
export function startup(client: EngineClient, store: AppStore): Promise<void> {
  return startGpu(client, store);
}
