// The runs the studio keeps in the browser's storage (OPFS, checkpoint_opfs.ts):
//   runs-list    every saved run, read from its checkpoint's header only (what
//                it trains, on which model and data, how far it got), and the
//                storage the page uses of its quota
//   runs-delete  remove a run's folder
// and, for the train request, a new run's store or a saved run to continue.
// A run is unfinished while its step is below its steps; a finished run's
// checkpoint still holds its trained values, so it can be opened again to
// export after a reload. Without OPFS (Node's worker tests, a browser that
// grants no storage) checkpoints stay in memory and the list is empty.
import { blobSource } from '../io/source.ts';
import { CheckpointError } from '../train/checkpoint/errors.ts';
import { readCheckpointInfo, type Checkpoint } from '../train/checkpoint/format.ts';
import { readCheckpoint } from '../train/checkpoint/session.ts';
import { LATEST_CHECKPOINT, memoryStore, type CheckpointStore } from '../train/checkpoint/store.ts';
import { opfsStore, runFiles, runIds, runsFolder, RUNS_DIR } from './checkpoint_opfs.ts';
import type { EngineRequest, SavedRun, SavedRunsReport } from './protocol.ts';

const hasOpfs = () => typeof navigator !== 'undefined' && typeof navigator.storage?.getDirectory === 'function';

const estimate = () => navigator.storage.estimate();

/** Run ids: the start time (so names sort by age) and a few random letters. */
function newRunId(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `${t}-${Math.random().toString(36).slice(2, 6)}`;
}

export interface RunStore {
  id: string;
  store: CheckpointStore;
  /** Null when checkpoints reach the browser's storage; else why they stay in memory. */
  memoryOnly: string | null;
}

/** Where a new run's checkpoints go. */
export async function newRunStore(): Promise<RunStore> {
  const id = newRunId();
  if (!hasOpfs()) return { id, store: memoryStore(`memory (run ${id})`), memoryOnly: 'this browser gives the page no storage (OPFS)' };
  try {
    return { id, store: opfsStore(await runsFolder(), id, estimate), memoryOnly: null };
  } catch (e) {
    return { id, store: memoryStore(`memory (run ${id})`), memoryOnly: `the browser's storage could not be opened (${(e as Error).message})` };
  }
}

/** A saved run to continue: its store and its latest checkpoint, read whole. */
export async function openSavedRun(id: string): Promise<RunStore & { checkpoint: Checkpoint; file: string }> {
  const file = `browser storage ${RUNS_DIR}/${String(id)}/${LATEST_CHECKPOINT}`;
  if (typeof id !== 'string' || !/^[\w-]+$/.test(id)) throw new CheckpointError(file, 'is not a saved run (the id has characters a run id never has)');
  if (!hasOpfs()) throw new CheckpointError(file, 'cannot be read: this browser gives the page no storage (OPFS)');
  const store = opfsStore(await runsFolder(), id, estimate);
  const checkpoint = await readCheckpoint(store);
  if (!checkpoint) throw new CheckpointError(file, 'does not exist: the run was deleted, or it was stopped before its first checkpoint');
  return { id, store, memoryOnly: null, checkpoint, file };
}

const text = (v: unknown) => (typeof v === 'string' ? v : null);

export async function runsList(): Promise<SavedRunsReport> {
  if (!hasOpfs()) return { runs: [], storage: null };
  const folder = await runsFolder();
  const runs: SavedRun[] = [];
  for (const id of await runIds(folder)) {
    const files = (await runFiles(folder, id)) ?? new Map<string, File>();
    const bytes = [...files.values()].reduce((a, f) => a + f.size, 0);
    const latest = files.get(LATEST_CHECKPOINT);
    const base: SavedRun = { id, method: null, model: null, data: null, step: 0, totalSteps: 0, bytes, savedAt: latest?.lastModified ?? 0, problem: null };
    // A folder without a checkpoint: a run stopped before its first write, or a first write that failed.
    if (!latest || latest.size === 0) {
      runs.push({ ...base, problem: 'no checkpoint was written' });
      continue;
    }
    const where = `browser storage ${RUNS_DIR}/${id}/${LATEST_CHECKPOINT}`;
    try {
      const info = await readCheckpointInfo(blobSource(latest, where), where);
      const s = info.settings;
      runs.push({
        ...base,
        method: text(s.method),
        model: info.identity.model.name,
        data: info.identity.data.find((d) => d.role === 'train')?.file ?? null,
        step: info.progress.step,
        totalSteps: typeof s.steps === 'number' ? s.steps : 0,
        teacher: text((s.teacherKey as { name?: unknown } | undefined)?.name),
      });
    } catch (e) {
      runs.push({ ...base, problem: (e as Error).message });
    }
  }
  runs.sort((a, b) => b.savedAt - a.savedAt);
  const est = await estimate().catch(() => null);
  return { runs, storage: est && est.usage !== undefined && est.quota !== undefined ? { usage: est.usage, quota: est.quota } : null };
}

export async function runsDelete(req: EngineRequest<'runs-delete'>): Promise<{ deleted: boolean }> {
  if (typeof req.run !== 'string' || !/^[\w-]+$/.test(req.run)) throw new TypeError(`runs-delete: ${String(req.run)} is not a run id`);
  if (!hasOpfs()) return { deleted: false };
  try {
    await (await runsFolder()).removeEntry(req.run, { recursive: true });
    return { deleted: true };
  } catch (e) {
    if ((e as { name?: string }).name === 'NotFoundError') return { deleted: false };
    throw e;
  }
}
