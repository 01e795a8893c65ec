// The export requests of the studio, doing what `sub4 export` does (src/cli/export.ts)
// but from the run still alive in the worker instead of a state folder:
//   export-choices  which formats the last trained run can be written to, and why not
//   export          write one of them into a folder the page picked, or as downloads
// Both rebuild the tuned model the way the CLI does, through the trained state
// (encodeTrainedState → decodeTrainedState, in memory) and tunedModel with the
// LoadedModel the run trained on, so the browser's files equal the CLI's. They
// take their turn in the model slot (a new training or load waits, and a load
// stops an export between writes), and upload nothing to the GPU.
import type { GpuContext } from '../gpu/device.ts';
import { Sub4Error } from '../base/errors.ts';
import { ExportError } from '../export/target.ts';
import type { LoadedModel } from '../io/loaded_model.ts';
import { EXPORT_FORMATS, exportChoices, exportTuned, ggufFileName, type ExportFormat } from '../export/export.ts';
import { tunedModel, type TunedModel } from '../export/tuned.ts';
import { decodeTrainedState, encodeTrainedState } from '../train/state.ts';
import { withGgufLayers } from '../train/budget/overlay.ts';
import { CancelledError } from './errors.ts';
import type { HandlerEnv, HandlerIO } from './handler_env.ts';
import { NEW_MODEL_REASON } from './model_slot.ts';
import { assertPlainData } from './plain_data.ts';
import type { EngineRequest, ExportChoicesReport, ExportDestination, ExportReport, ExportStream } from './protocol.ts';
import { downloadTarget, folderTarget, type DirectoryLike, type TargetHooks } from './export_target.ts';
import type { TrainedRun } from './train_slot.ts';

/** There is no trained run to export: none yet, or it went with the model or device it was trained on. */
export class NoTrainedRunError extends Sub4Error {}

/** Byte progress is posted at most this often per file (start and commit always). */
const BYTES_POST_MS = 100;

/** Files each format writes, README.md included (GPTQ and MLX copy what the base folder has: not known ahead). */
const FILE_COUNT: Record<ExportFormat, number> = { gguf: 2, 'gguf-lora': 3, peft: 3, gptq: 0, mlx: 0, aqlm: 0, merged: 0 };

type Progress = (phase: string, done: number, total: number) => void;

/** Said before waiting for a turn, so a page asking too early hears at once. */
function requireRun(env: HandlerEnv): void {
  if (!env.models.training.trained) throw new NoTrainedRunError('There is no trained run to export: train the model first (a run is kept until the next one starts, a new model is loaded, or the GPU is lost).');
}

/** The kept run of the current model, or a NoTrainedRunError saying why there is none. */
function keptRun(env: HandlerEnv, file: LoadedModel, ctx: GpuContext): TrainedRun {
  requireRun(env);
  const run = env.models.training.trained!;
  if (run.llama.ctx !== ctx) throw new NoTrainedRunError('The GPU was lost since the run, and the trained state on it with it: train again to export.');
  if (run.file !== file) throw new NoTrainedRunError(`The last run was trained on ${run.file.name}, which is no longer the open model: train again to export.`);
  return run;
}

/** The run's tuned model, rebuilt on the CPU exactly as `sub4 export` rebuilds it from a saved state. */
async function tunedFromRun(run: TrainedRun, progress: Progress): Promise<TunedModel> {
  const stateName = `${run.info.base.name} (trained in this page)`;
  progress('reading the run', 0, 1);
  const encoded = await encodeTrainedState(run.trainable, run.info, run.quantized ?? undefined, run.ggufLayers, run.vqLayers);
  const state = await decodeTrainedState(encoded.json, encoded.safetensors, stateName);
  progress('rebuilding the model', 0, 1);
  // A ReALLM run's learned layers are read back from its state, as `sub4 export` does (src/cli/export.ts).
  const tm = await tunedModel(state.vqBase.size ? withGgufLayers(run.file, new Map(), state.vqBase) : run.file, state, stateName);
  progress('rebuilding the model', 1, 1);
  return tm;
}

export async function exportChoicesRequest(_req: EngineRequest<'export-choices'>, io: HandlerIO<'export-choices'>, env: HandlerEnv): Promise<ExportChoicesReport> {
  requireRun(env);
  const ctx = await env.getContext(io.progress);
  return env.models.runWithoutWeights(ctx, io, async ({ file }) => {
    const run = keptRun(env, file, ctx);
    const tm = await tunedFromRun(run, io.progress);
    const m = tm.manifest;
    const choices = exportChoices(tm).map((c) => ({ format: c.format, ok: c.ok, detail: c.detail, notes: [...c.notes] }));
    return assertPlainData({ run: { method: m.method, steps: m.steps, base: m.base.name, data: m.data.file }, choices }, 'export-choices');
  });
}

function checkFormat(v: unknown): ExportFormat {
  if (!EXPORT_FORMATS.includes(v as ExportFormat)) throw new ExportError(String(v), `unknown format; sub4 writes ${EXPORT_FORMATS.join(', ')}`);
  return v as ExportFormat;
}

function checkDestination(d: ExportDestination | undefined): ExportDestination {
  if (d?.kind === 'download') return d;
  if (d?.kind === 'folder' && d.dir && typeof d.dir.getFileHandle === 'function') return d;
  throw new TypeError('export needs a destination: { kind: "download" } or { kind: "folder", dir: a FileSystemDirectoryHandle }.');
}

export async function exportRequest(req: EngineRequest<'export'>, io: HandlerIO<'export'>, env: HandlerEnv): Promise<ExportReport> {
  const format = checkFormat(req.format);
  const dest = checkDestination(req.destination);
  requireRun(env);
  const ctx = await env.getContext(io.progress);
  return env.models.runWithoutWeights(ctx, io, async ({ file, signal }) => {
    const run = keptRun(env, file, ctx);
    const t0 = performance.now();
    const tm = await tunedFromRun(run, io.progress);
    const total = FILE_COUNT[format];
    // A GGUF of a GGUF base has the base's tensors and about its size: the bar can follow the bytes.
    const expected = (name: string) => (name === ggufFileName(tm) && tm.base.format === 'gguf' ? tm.base.fileBytes : null);
    const files: ExportReport['files'] = [];
    let lastPost = 0;
    const post = (e: ExportStream) => io.stream(e);
    const hooks: TargetHooks = {
      onStart(name) {
        lastPost = performance.now();
        io.progress('writing', files.length, total);
        post({ type: 'writing', file: name, index: files.length, total, bytes: 0, expectedBytes: expected(name) });
      },
      onBytes(name, bytes) {
        const now = performance.now();
        if (now - lastPost < BYTES_POST_MS) return;
        lastPost = now;
        post({ type: 'writing', file: name, index: files.length, total, bytes, expectedBytes: expected(name) });
      },
      onCommit(name, bytes, blob) {
        post({ type: 'written', file: name, index: files.length, total, bytes, blob });
        files.push({ name, bytes });
        io.progress('writing', files.length, total);
      },
      checkStop() {
        if (!signal.aborted) return;
        throw new CancelledError(signal.reason === NEW_MODEL_REASON ? `Export stopped: ${NEW_MODEL_REASON}.` : 'Export cancelled; the file being written was dropped.');
      },
    };
    hooks.checkStop();
    const target = dest.kind === 'folder' ? folderTarget(dest.dir as unknown as DirectoryLike, hooks) : downloadTarget(hooks);
    const res = await exportTuned(tm, format, target);
    return assertPlainData(
      {
        format,
        files,
        notes: [...res.notes],
        destination: dest.kind,
        folder: dest.kind === 'folder' ? dest.dir.name : null,
        seconds: (performance.now() - t0) / 1000,
      },
      'export',
    );
  });
}

