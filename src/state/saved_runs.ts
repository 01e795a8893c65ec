// The page's side of runs that survive (src/worker/runs.ts is the worker's):
// list and delete the runs saved in the browser's storage, resume one, ask the
// worker for a checkpoint when the tab is hidden (a hidden tab is the one the
// OS kills first), and ask the browser to keep the storage (persist()).
import type { EngineClient } from '../worker/client.ts';
import type { SavedRun } from '../worker/protocol.ts';
import { currentTrainFile, loadModel, readTrainData, startTraining, trainingRunning } from './actions.ts';
import { forgetRunFiles, noteDataHandle, noteModelHandle, openKeptFiles, recallRunFiles, runsWithFiles } from './run_files.ts';
import type { AppStore } from './store.ts';

export async function refreshRuns(client: EngineClient, store: AppStore): Promise<void> {
  const s = store.getState();
  const reqId = s.runsListStarted();
  try {
    const list = await client.request({ type: 'runs-list' });
    s.runsListed(reqId, list, await runsWithFiles());
  } catch (err) {
    s.runsListFailed(reqId, err);
  }
}

export async function deleteRun(client: EngineClient, store: AppStore, id: string): Promise<void> {
  try {
    await client.request({ type: 'runs-delete', run: id });
    await forgetRunFiles(id);
  } finally {
    await refreshRuns(client, store);
  }
}

/**
 * Ask once for persistent storage, so the browser does not clear the saved
 * runs under disk pressure. Only the page can ask (persist() is not in workers).
 */
export async function askPersistence(store: AppStore): Promise<void> {
  if (store.getState().runs.persisted !== null) return;
  const sm = typeof navigator !== 'undefined' ? navigator.storage : undefined;
  if (!sm?.persist) return;
  const granted = await sm.persist().catch(() => false);
  store.getState().runsPersisted(granted);
}

/**
 * Continue a saved run on the loaded model and the dropped data file (the
 * worker checks they are the same files as the checkpoint's, by identity
 * hashes, and refuses others). A finished run goes through the same path with
 * no steps left: its last evaluation runs again and it becomes exportable.
 */
export async function resumeRun(client: EngineClient, store: AppStore, run: SavedRun): Promise<void> {
  void askPersistence(store);
  const st = store.getState();
  const open = st.model.status === 'ready' && st.train.data.status === 'ready' && currentTrainFile(store) !== null;
  if (!open) {
    // After a reload: the run's own files, when their handles were kept (the browser asks to read them again).
    const kept = await recallRunFiles(run.id);
    if (!kept) return;
    let files;
    try {
      files = await openKeptFiles(kept);
    } catch (err) {
      st.runsProblem(err);
      return;
    }
    noteModelHandle(kept.model);
    noteDataHandle(kept.data);
    await loadModel(client, store, [{ path: files.model.name, file: files.model }]);
    if (store.getState().model.status !== 'ready') return;
    await readTrainData(client, store, files.data);
  }
  await startTraining(client, store, run);
  await refreshRuns(client, store);
}

/** The tab was hidden: have the running run write its last good state now. */
export function checkpointNow(client: EngineClient, store: AppStore): void {
  if (!trainingRunning(store)) return;
  void client.request({ type: 'train-control', action: 'checkpoint' }).catch((err: unknown) => console.error(err));
}
