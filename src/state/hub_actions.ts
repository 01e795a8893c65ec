// Actions of the Hub field and cache panel: list a repo, fetch a chosen model
// into the browser's Hub cache (the worker downloads; the page shows progress)
// and hand its files to the same load path as a drop (dropModelFiles: checked
// first, asks before stopping a training run), and show or clear the cache.
// Nothing reaches the network until the user lists a repo or loads a model.
import type { EngineClient } from '../worker/client.ts';
import type { ModelChoice } from '../worker/protocol.ts';
import { dropModelFiles } from './actions.ts';
import type { AppStore } from './store.ts';

/** The running download's Stop handle; kept here because the store holds plain data only. */
const downloads = new WeakMap<AppStore, AbortController>();

export async function listHubRepo(client: EngineClient, store: AppStore): Promise<void> {
  const s = store.getState();
  const { endpoint, token, repo } = s.hub.settings;
  const id = s.hubListStarted();
  try {
    s.hubListed(id, await client.request({ type: 'hub-list', endpoint, token, repo }));
  } catch (err) {
    s.hubListFailed(id, err);
  }
}

/** Fetch a choice's files (cached ones without a request) and load them as the model. */
export async function loadHubModel(client: EngineClient, store: AppStore, repo: string, choice: ModelChoice, revision = 'main'): Promise<void> {
  const s = store.getState();
  const { endpoint, token } = s.hub.settings;
  const id = s.hubDownloadStarted(`${repo}: ${choice.label}`);
  const abort = new AbortController();
  downloads.set(store, abort);
  let files;
  try {
    const r = await client.request(
      { type: 'hub-download', endpoint, token, repo, revision, files: choice.files, bytes: choice.bytes },
      (p) => s.hubDownloadProgress(id, p),
      undefined,
      abort.signal,
    );
    s.hubDownloaded(id, r);
    files = r.files;
  } catch (err) {
    s.hubDownloadFailed(id, err);
    // A cut download leaves a partial file: the cache panel shows it, and a retry resumes it.
    await refreshHubCache(client, store);
    return;
  } finally {
    if (downloads.get(store) === abort) downloads.delete(store);
  }
  await refreshHubCache(client, store);
  await dropModelFiles(client, store, files);
}

/** Stop the running download; its partial file stays in the cache and the next try resumes it. */
export function stopHubDownload(store: AppStore): void {
  downloads.get(store)?.abort();
}

export async function refreshHubCache(client: EngineClient, store: AppStore): Promise<void> {
  try {
    store.getState().hubCacheReceived((await client.request({ type: 'hub-cache' })).repos);
  } catch (err) {
    store.getState().hubCacheFailed(err);
  }
}

/** Delete one repo from the cache, or everything (null). */
export async function deleteHubCache(client: EngineClient, store: AppStore, repo: string | null): Promise<void> {
  try {
    store.getState().hubCacheReceived((await client.request({ type: 'hub-cache-delete', repo })).repos);
  } catch (err) {
    store.getState().hubCacheFailed(err);
  }
}
