// The one typed protocol between the UI thread and the engine worker: every
// request, every event the worker sends back, and how errors cross the
// boundary. Structured clone turns a custom Error subclass into a plain Error
// (or drops it), so errors travel as data and are rebuilt with their class name,
// message and stack on the other side.
//
// To add a request (tokenize, train, export): add a row to EngineRequests (its
// parameters) and EngineResults (what it resolves with), and, if it streams
// (generate → tokens, train → steps), a row to EngineStreams. The worker's
// handler table and the client's types follow from these maps. Any running
// request can be stopped with `cancel` (serve.ts answers it itself); handlers
// see that through the AbortSignal in their HandlerIO.
import type { AdapterSummary, LimitName } from '../gpu/device.ts';
import type { SelfTestResult } from '../gpu/selftest.ts';
import type { ModelFacts } from '../model/facts.ts';
import type { BudgetPlanReport, CalibrateParams, CalibrationFile, CalibrationReport, SavedRunsReport, TrainDataParams, TrainDataReport, TrainParams, TrainPlanReport, TrainReport, TrainSettings, TrainStream } from './protocol_train.ts';
import type { ExportChoicesReport, ExportParams, ExportReport, ExportStream } from './protocol_export.ts';
import type { TeacherReport } from './protocol_repair.ts';
import type { HubCacheReport, HubDownloaded, HubDownloadParams, HubListing, HubListParams } from './protocol_hub.ts';
import type { LoadSplit, WeightsPlaced } from './protocol_split.ts';
export type { LoadSplit, WeightsPlaced } from './protocol_split.ts';

// Training and export shapes live in their own files; callers import them from here as from one protocol.
export type * from './protocol_train.ts';
export type * from './protocol_export.ts';
export type * from './protocol_hub.ts';
export type * from './protocol_repair.ts';

/** What `gpu-info` resolves with: the adapter the worker's device came from. */
export interface GpuInfo {
  adapter: AdapterSummary;
  limits: Record<LimitName, number>;
  features: { f16: boolean; subgroups: boolean; timestampQuery: boolean };
}

/** What `selftest` resolves with: the result plus the pass criterion it was judged by. */
export interface SelfTestReport extends SelfTestResult {
  /** Largest max-relative-error that passes. */
  tolerance: number;
}

/**
 * One dropped or picked file. `File` survives structured clone as a handle to
 * the same bytes, so the UI sends it unread and the worker reads slices of it.
 */
export interface ModelFileRef {
  /** Path inside the dropped folder ("stories260K/config.json"), or the bare file name. */
  path: string;
  file: File;
}

/** What `load-model` resolves with: the model's facts and which dropped files made it. */
export interface ModelLoaded {
  facts: ModelFacts;
  /** Paths of the files the model was opened from. */
  opened: string[];
  /** Paths that were dropped but are not part of the model (a .gguf's neighbours, other folders). */
  ignored: string[];
  /** Storage types of the per-layer linear weights ('Q4_0', 'F32', 'GPTQ 4-bit g128'), each once: what plannedExports reads. */
  linearTypes: string[];
  /** Where opening took its time (phases read, parse, facts), for the model card. */
  split: LoadSplit;
}


/** What `check-model-files` resolves with: the files a load would open; a drop naming no model rejects instead. */
export interface ModelFilesChecked {
  opened: string[];
  ignored: string[];
}

/** What `generate` continues and how it samples (the options of `sub4 generate`). */
export interface GenerateParams {
  /** Text to continue; BOS is added when the model asks for it. */
  prompt: string;
  /** Most new tokens; generation also stops at an end-of-sequence token. */
  maxTokens: number;
  /** 0 = greedy. */
  temperature: number;
  /** Keep the k most likely tokens; 0 = off. */
  topK: number;
  /** Keep the most likely tokens up to this probability; 1 = off. */
  topP: number;
  /** Sampler seed: the same seed and settings give the same text. */
  seed: number;
  /** 'tuned': the last training run's model (its scales and LoRA factors); default 'base'. */
  model?: 'base' | 'tuned';
  /** Chat mode: the prompt is one user turn, rendered with the model's chat template and its assistant header. */
  chat?: boolean;
}

/** One generated token, streamed as soon as it is chosen. */
export interface GeneratedToken {
  /** Token id. */
  id: number;
  /** Text this token adds (may be '' while a multi-byte character is incomplete; the result's text has it). */
  text: string;
}

/** Why generation ended: an end-of-sequence token, maxTokens, the model's context, or a cancel. */
export type StopReason = 'eos' | 'length' | 'context' | 'cancelled';

export interface Generated extends WeightsPlaced {
  /** Which model continued the prompt. */
  model: 'base' | 'tuned';
  /** Ids of the new tokens (prompt excluded). */
  tokens: number[];
  /** The new text, complete (held-back partial characters included). */
  text: string;
  promptTokens: number;
  /** Decode speed: tokens after the first over the time since the first; 0 with fewer than 2 tokens. */
  tokensPerSecond: number;
  /** Prompt pass until the first token, ms. */
  prefillMs: number;
  stopReason: StopReason;
}

/** Perplexity of a dropped text, by the windowed protocol of `sub4 eval` (src/model/eval.ts). */
export interface PerplexityParams {
  /** Plain UTF-8 text; only its first windows·(ctx−1) tokens are used. */
  file: File;
  /** Its name, for messages (sent apart: Node's structured clone turns a File into a nameless Blob). */
  name: string;
  /** Tokens per window, BOS included. */
  ctx: number;
  windows: number;
}

export interface PerplexityReport extends WeightsPlaced {
  /** Tokens scored. */
  tokens: number;
  /** Mean negative log-likelihood per token (nats). */
  nll: number;
  ppl: number;
  file: string;
}

export interface EngineRequests {
  'gpu-info': Record<never, never>;
  selftest: Record<never, never>;
  /** Open a .gguf file or a Hugging Face folder and make it the engine's current model. */
  'load-model': { files: ModelFileRef[] };
  /** Which model the files are, without opening it or touching the current one (ModelFilesError if none). */
  'check-model-files': { files: ModelFileRef[] };
  /** Continue a prompt with the current model (weights go to the GPU on first use after a load). */
  generate: GenerateParams;
  perplexity: PerplexityParams;
  /** Read a training-data file with the current model's tokenizer: preview, counts, problems. */
  'train-data': TrainDataParams;
  /** The memory planner's estimate of a run with these settings (nothing is allocated). */
  'train-plan': TrainSettings;
  /** The importance matrix of the current model over the data's training windows, kept in the worker for its runs. */
  calibrate: CalibrateParams;
  /** The kept importance matrix as a .imatrix.gguf file. */
  'calibration-save': Record<never, never>;
  /** LQ-LoRA's plan under a bit budget (settings.budget): measured per matrix and solved; Start trains on it. */
  'budget-plan': TrainSettings;
  /** Open a repair's teacher (a float .gguf or HF folder) and check it against the current model; kept for its runs. */
  'teacher-load': { files: ModelFileRef[] };
  /** Fine-tune the current model; cancel = Stop between steps, resolving with what was trained. */
  train: TrainParams;
  /** Pause or resume the running train request between steps; 'checkpoint': write one now (the tab was hidden). */
  'train-control': { action: 'pause' | 'resume' | 'checkpoint' };
  /** The runs saved in the browser's storage (OPFS), unfinished and finished, and the storage used. */
  'runs-list': Record<never, never>;
  /** Delete a saved run's checkpoints (`run`: its id; `id` is the message's own number). */
  'runs-delete': { run: string };
  /** Which formats the last trained run can be exported to, and why not. */
  'export-choices': Record<never, never>;
  /** Write the last trained run in a format; cancel stops it (the file being written is dropped). */
  export: ExportParams;
  /** List a Hub repo's files and the models it offers (the only requests that reach the network, with hub-download). */
  'hub-list': HubListParams;
  /** Fetch a choice's files into the browser's Hub cache (resuming partial ones), or take them from it with no request. */
  'hub-download': HubDownloadParams;
  /** What the Hub cache holds (reads the browser's storage only). */
  'hub-cache': Record<never, never>;
  /** Delete one repo from the Hub cache ("owner/name"), or all of it (null). */
  'hub-cache-delete': { repo: string | null };
  /** Stop request `target` (a generate resolves with what it has; others reject with CancelledError). */
  cancel: { target: number };
}

/** The value each request resolves with. */
export interface EngineResults {
  'gpu-info': GpuInfo;
  selftest: SelfTestReport;
  'load-model': ModelLoaded;
  'check-model-files': ModelFilesChecked;
  generate: Generated;
  perplexity: PerplexityReport;
  'train-data': TrainDataReport;
  'train-plan': TrainPlanReport;
  calibrate: CalibrationReport;
  'calibration-save': CalibrationFile;
  'budget-plan': BudgetPlanReport;
  'teacher-load': TeacherReport;
  train: TrainReport;
  /** Whether a run was there to pause or resume. */
  'train-control': { running: boolean };
  'runs-list': SavedRunsReport;
  'runs-delete': { deleted: boolean };
  'export-choices': ExportChoicesReport;
  export: ExportReport;
  'hub-list': HubListing;
  'hub-download': HubDownloaded;
  'hub-cache': HubCacheReport;
  'hub-cache-delete': HubCacheReport;
  /** Whether `target` was still running. */
  cancel: { cancelled: boolean };
}

/** Payloads a request streams before it resolves; requests absent here stream nothing. */
export interface EngineStreams {
  'gpu-info': never;
  selftest: never;
  'load-model': never;
  'check-model-files': never;
  generate: GeneratedToken;
  perplexity: never;
  'train-data': never;
  'train-plan': never;
  calibrate: never;
  'calibration-save': never;
  'budget-plan': never;
  'teacher-load': never;
  train: TrainStream;
  'train-control': never;
  'runs-list': never;
  'runs-delete': never;
  'export-choices': never;
  export: ExportStream;
  'hub-list': never;
  'hub-download': never;
  'hub-cache': never;
  'hub-cache-delete': never;
  cancel: never;
}

export type RequestType = keyof EngineRequests;
export type EngineRequest<K extends RequestType = RequestType> = K extends RequestType ? { type: K } & EngineRequests[K] : never;
export type EngineResult<K extends RequestType> = EngineResults[K];

/** A request on the wire: the client numbers each one so answers find their caller. */
export type RequestMessage<K extends RequestType = RequestType> = EngineRequest<K> & { id: number };

/** Coarse progress of a long request; `total` 0 means the size is not known yet. */
export interface ProgressEvent {
  type: 'progress';
  id: number;
  /**
   * Short name of the current step: 'device', 'selftest'; for load-model 'config',
   * 'reading header', 'tokenizer' (done/total are bytes read of the model's files), 'facts';
   * for generate and perplexity 'uploading weights' (tensors, first use after a load only);
   * for perplexity 'reading text' (bytes), 'tokenizing', 'evaluating' (windows); for train
   * 'reading data', 'quantizing' (layers), 'uploading weights', 'preparing', 'sampling', 'training'
   * (steps done of total), 'finishing' (the last evaluation and samples), and 'planning' (layers, a budget plan);
   * for calibrate 'reading data', 'tokenizing', 'uploading weights', 'calibrating' (windows); for budget-plan 'planning' (layers); for export-choices and export
   * 'reading the run' (the trained state off the GPU), 'rebuilding the model' (the tuned layers); for hub-list
   * 'listing'; for hub-download 'downloading <path>' (done/total: bytes of all the choice's files, cached ones included).
   */
  phase: string;
  done: number;
  total: number;
}

export interface StreamEvent<K extends RequestType = RequestType> {
  type: 'stream';
  id: number;
  data: EngineStreams[K];
}

export interface ResultMessage<K extends RequestType = RequestType> {
  type: 'result';
  id: number;
  value: EngineResults[K];
}

export interface ErrorMessage {
  type: 'error';
  id: number;
  error: SerializedError;
}

/** Everything the worker posts to the UI. */
export type WorkerMessage = ProgressEvent | StreamEvent | ResultMessage | ErrorMessage;

// ---- errors across the boundary ----

/** Plain-data image of an Error; `details` keeps the subclass's own scalar fields (limit, reason...). */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  details?: Record<string, string | number | boolean | null>;
  cause?: SerializedError;
}

export function serializeError(err: unknown, depth = 0): SerializedError {
  if (!(err instanceof Error)) {
    // Something that is not an Error was thrown (a string, a GPU object): keep its text.
    return { name: 'Error', message: typeof err === 'string' ? err : safeString(err) };
  }
  const out: SerializedError = { name: err.name || err.constructor?.name || 'Error', message: err.message, stack: err.stack };
  const details: Record<string, string | number | boolean | null> = {};
  for (const [k, v] of Object.entries(err)) {
    if (k === 'name' || k === 'message' || k === 'stack' || k === 'cause') continue;
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') details[k] = v;
  }
  if (Object.keys(details).length > 0) out.details = details;
  // Causes can chain; three levels say enough and a cycle cannot run away.
  if (err.cause !== undefined && depth < 3) out.cause = serializeError(err.cause, depth + 1);
  return out;
}

/** Rebuild an Error whose `.name` is the original class name and whose stack is the worker's. */
export function deserializeError(s: SerializedError): Error {
  const err = new Error(s.message, s.cause ? { cause: deserializeError(s.cause) } : undefined);
  err.name = s.name;
  if (s.stack !== undefined) err.stack = s.stack;
  if (s.details) Object.assign(err, s.details);
  return err;
}

function safeString(v: unknown): string {
  try {
    return String(v);
  } catch {
    return 'an unprintable value was thrown';
  }
}

/** True when a message from the worker has the shape of WorkerMessage (guards against stray posts). */
export function isWorkerMessage(v: unknown): v is WorkerMessage {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as { type?: unknown; id?: unknown };
  return typeof m.id === 'number' && (m.type === 'progress' || m.type === 'stream' || m.type === 'result' || m.type === 'error');
}
