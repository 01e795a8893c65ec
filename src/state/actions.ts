// Actions: the async glue between the engine client and the store. Each one
// sends requests, turns progress events into store updates and records the
// outcome, so components only read state and call these.
import type { EngineClient } from '../worker/client.ts';
import type { ExportFormat } from '../export/export.ts';
import type { ExportDestination, GenerateParams, ModelFileRef, SavedRun } from '../worker/protocol.ts';
import { rememberRunFiles } from './run_files.ts';
import { formSettings } from './slices/train.ts';
import type { AppStore } from './store.ts';

/** The Stop button's handle on the running generation; kept here because the store holds plain data only. */
const generations = new WeakMap<AppStore, { runId: number; abort: AbortController }>();
/** The model card's Cancel button's handle on the load in progress. */
const loads = new WeakMap<AppStore, { loadId: number; abort: AbortController }>();

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

/** Files dropped on "Model files" while a run goes, kept until the user says whether to stop the run. */
const pendingDrops = new WeakMap<AppStore, { dropId: number; files: readonly ModelFileRef[] }>();

/**
 * A drop or pick on "Model files". The worker first says whether the files are
 * a model at all, without touching the open one: a refused drop (a data file,
 * two models) is shown beside the drop area and changes nothing else. A model
 * while a training run goes is held until the user agrees to stop the run.
 */
export async function dropModelFiles(client: EngineClient, store: AppStore, files: readonly ModelFileRef[]): Promise<void> {
  const s = store.getState();
  const dropId = s.modelDropStarted(dropLabel(files));
  try {
    await client.request({ type: 'check-model-files', files: [...files] });
  } catch (err) {
    s.modelDropRejected(dropId, err);
    return;
  }
  const now = store.getState();
  if (now.modelDrop.dropId !== dropId) return; // a newer drop took over
  if (now.train.run.status === 'running' || now.train.run.status === 'paused') {
    pendingDrops.set(store, { dropId, files });
    s.modelDropNeedsConfirm(dropId);
    return;
  }
  s.modelDropSettled(dropId);
  await loadModel(client, store, files);
}

/**
 * The user agreed: Stop the run as the Stop button does (it ends 'stopped', with
 * what it trained), then load the held model, which lets go of the run.
 */
export async function confirmModelDrop(client: EngineClient, store: AppStore): Promise<void> {
  const p = pendingDrops.get(store);
  if (!p || store.getState().modelDrop.dropId !== p.dropId) return;
  pendingDrops.delete(store);
  store.getState().modelDropSettled(p.dropId);
  const t = trainings.get(store);
  if (t) {
    stopTraining(store);
    await t.ended;
  }
  await loadModel(client, store, p.files);
}

/** The user kept the run: the held drop is forgotten. */
export function cancelModelDrop(store: AppStore): void {
  const p = pendingDrops.get(store);
  pendingDrops.delete(store);
  if (p) store.getState().modelDropSettled(p.dropId);
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
  const abort = new AbortController();
  loads.set(store, { loadId, abort });
  try {
    const result = await client.request({ type: 'load-model', files: [...files] }, (p) => s.modelProgress(loadId, p), undefined, abort.signal);
    s.modelLoaded(loadId, result);
  } catch (err) {
    // A load replaced by a newer drop fails too; the slice ignores it by its number.
    if (abort.signal.aborted) s.modelCancelled(loadId);
    else {
      if (store.getState().model.loadId === loadId) console.error(err);
      s.modelFailed(loadId, err);
    }
  } finally {
    if (loads.get(store)?.loadId === loadId) loads.delete(store);
  }
}

/** The Cancel button on the model card: stop the load in progress at its next read; no model is open after. */
export function cancelLoad(store: AppStore): void {
  loads.get(store)?.abort.abort();
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
  // The model the weights will belong to: a load that begins meanwhile stops this run anyway.
  const loadId = s.model.loadId;
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
    s.modelWeightsPlaced(loadId, r);
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
  const loadId = s.model.loadId;
  try {
    const r = await client.request({ type: 'perplexity', file, name: file.name, ctx, windows }, (p) => s.perplexityProgress(runId, p));
    s.perplexityFinished(runId, r);
    s.modelWeightsPlaced(loadId, r);
  } catch (err) {
    if (store.getState().perplexity.runId === runId) console.error(err);
    s.perplexityFailed(runId, err);
  }
}

/** The dataset File and the running training's Stop handle; kept here because the store holds plain data only. */
const trainFiles = new WeakMap<AppStore, File>();

/** The dataset file last read (a drop, a pick, or the demo's), so the panel shows and re-reads it. */
export function currentTrainFile(store: AppStore): File | null {
  return trainFiles.get(store) ?? null;
}
const trainings = new WeakMap<AppStore, { runId: number; abort: AbortController; ended: Promise<void> }>();

/**
 * Read a dropped or picked training-data file with the model's tokenizer (in
 * the worker): preview, counts and problems for the form's seq len and seed.
 * With no file, the last one is read again (the model or seq len changed).
 */
export async function readTrainData(client: EngineClient, store: AppStore, file?: File): Promise<void> {
  const f = file ?? trainFiles.get(store);
  if (!f) return;
  const newFile = f !== trainFiles.get(store);
  trainFiles.set(store, f);
  const s = store.getState();
  const { seqLen, seed } = formSettings(s.train.form);
  const reqId = s.trainDataStarted(f.name, newFile);
  try {
    const plainChat = s.train.form.plainChat;
    const r = await client.request({ type: 'train-data', file: f, name: f.name, seqLen, seed, plainChat }, (p) => s.trainDataProgress(reqId, p));
    s.trainDataRead(reqId, r);
  } catch (err) {
    s.trainDataFailed(reqId, err);
  }
}

/** The planner's memory estimate for the form's settings on the current model. */
export async function planTraining(client: EngineClient, store: AppStore): Promise<void> {
  const s = store.getState();
  const reqId = s.trainPlanStarted();
  try {
    s.trainPlanned(reqId, await client.request({ type: 'train-plan', ...formSettings(s.train.form) }));
  } catch (err) {
    s.trainPlanFailed(reqId, err);
  }
}

/** Whether a train request is in flight. */
export function trainingRunning(store: AppStore): boolean {
  return trainings.has(store);
}

/**
 * Fine-tune with the form's settings on the dataset file; step points, evals and samples stream into the store.
 * With `resume`, continue that saved run instead (its settings come from its checkpoint, in the worker).
 */
export async function startTraining(client: EngineClient, store: AppStore, resume?: SavedRun): Promise<void> {
  const file = trainFiles.get(store);
  if (!file || trainings.has(store)) return;
  const s = store.getState();
  const settings = formSettings(s.train.form);
  const runId = s.trainStarted(resume ? resume.totalSteps : settings.steps, settings.samplePrompt, !resume && settings.repair !== null);
  const abort = new AbortController();
  const loadId = s.model.loadId;
  let ended!: () => void;
  trainings.set(store, { runId, abort, ended: new Promise<void>((r) => (ended = r)) });
  try {
    const r = await client.request(
      { type: 'train', ...settings, file, name: file.name, plainChat: s.train.form.plainChat, ...(resume ? { resume: resume.id } : {}) },
      (p) => s.trainProgress(runId, p),
      (e) => {
        s.trainStream(runId, e);
        // The worker named the run: the open files' handles (if they came with any) are kept under its id.
        if (e.type === 'run') void rememberRunFiles(e.id);
      },
      abort.signal,
    );
    s.trainFinished(runId, r);
    s.modelWeightsPlaced(loadId, r);
  } catch (err) {
    console.error(err);
    s.trainFailed(runId, err);
  } finally {
    if (trainings.get(store)?.runId === runId) trainings.delete(store);
    ended();
  }
}

/** Pause or resume the running training between steps (the worker says when it has paused). */
export async function pauseTraining(client: EngineClient, store: AppStore, pause: boolean): Promise<void> {
  const t = trainings.get(store);
  if (!t) return;
  const s = store.getState();
  if (pause) s.trainPausing(t.runId);
  else s.trainResuming(t.runId);
  await client.request({ type: 'train-control', action: pause ? 'pause' : 'resume' }).catch((err: unknown) => console.error(err));
}

/** Stop the running training after its current step; it resolves with what was trained. */
export function stopTraining(store: AppStore): void {
  const t = trainings.get(store);
  if (!t) return;
  store.getState().trainStopping(t.runId);
  t.abort.abort();
}

// ---- export (src/worker/export.ts; the page-side destination is src/ui/save.ts) ----

/** The running export's Cancel handle; kept here because the store holds plain data only. */
const exportJobs = new WeakMap<AppStore, { jobId: number; abort: AbortController }>();

/** Ask which formats the last trained run can be exported to (once per finished run). */
export async function loadExportChoices(client: EngineClient, store: AppStore): Promise<void> {
  const s = store.getState();
  const reqId = s.exportChoicesStarted(s.train.run.runId, s.model.loadId);
  try {
    s.exportChoicesReceived(reqId, await client.request({ type: 'export-choices' }));
  } catch (err) {
    s.exportChoicesFailed(reqId, err);
  }
}

/**
 * Export the last trained run. `save` turns each downloaded file's Blob into a
 * saved download and returns its object URL (folder exports never call it).
 */
export async function exportTrainedRun(
  client: EngineClient,
  store: AppStore,
  format: ExportFormat,
  destination: ExportDestination,
  save: (blob: Blob, name: string) => string,
): Promise<void> {
  if (exportJobs.has(store)) return;
  const s = store.getState();
  const jobId = s.exportStarted(format, destination.kind, destination.kind === 'folder' ? destination.dir.name : null);
  const abort = new AbortController();
  exportJobs.set(store, { jobId, abort });
  try {
    const r = await client.request(
      { type: 'export', format, destination },
      (p) => {
        if (p.phase !== 'writing') s.exportPhase(jobId, p.phase);
      },
      (e) => s.exportStream(jobId, e, e.type === 'written' && e.blob ? save(e.blob, e.file) : null),
      abort.signal,
    );
    s.exportFinished(jobId, r);
  } catch (err) {
    console.error(err);
    s.exportFailed(jobId, err);
  } finally {
    if (exportJobs.get(store)?.jobId === jobId) exportJobs.delete(store);
  }
}

/** Stop the running export; the file being written is dropped, files already complete stay. */
export function cancelExport(store: AppStore): void {
  exportJobs.get(store)?.abort.abort();
}

/** Everything the app does when the page opens. */
export function startup(client: EngineClient, store: AppStore): Promise<void> {
  return startGpu(client, store);
}
