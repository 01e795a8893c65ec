// Request and event shapes of the training panel's worker jobs (src/worker/train.ts),
// rows of the one protocol (protocol.ts maps them to request names).
import type { PartName } from '../model/planner.ts';
import type { DatasetCounts, PreviewRow, Problem, SourceFormat } from '../train/data/index.ts';
import type { TuneMethod } from '../train/setup.ts';
import type { RepairReport, RepairSettings, TeacherGap } from './protocol_repair.ts';
import type { WeightsPlaced } from './protocol_split.ts';

/** A dropped or picked training-data file (.txt, JSONL, JSON array), sent unread like a model file. */
export interface TrainDataFile {
  file: File;
  /** Its name, for messages and for the format (sent apart: Node's structured clone drops a File's name). */
  name: string;
  /** Chat rows on a tokenizer without a chat template: render them as plain "User:/Assistant:" turns (else refused). */
  plainChat?: boolean;
}

/** What `train-data` reads the file into: the windows depend on seqLen and the order on seed. */
export interface TrainDataParams extends TrainDataFile {
  seqLen: number;
  seed: number;
}

/** The dataset as the page shows it before training. */
export interface TrainDataReport {
  file: string;
  bytes: number;
  source: SourceFormat;
  kind: 'text' | 'instruction' | 'chat';
  /** e.g. "Alpaca (instruction/input/output)". */
  detail: string;
  counts: DatasetCounts;
  /** The first rows, cut into runs in the loss or not; place: where the row is ("line 3", "record 2335"). */
  preview: (PreviewRow & { place: string })[];
  /** The first problems in file order (at most 100), each with its place; problemCount has them all. */
  problems: (Problem & { place: string })[];
  problemCount: number;
  notes: string[];
  seqLen: number;
}

/** Every choice of a run (the options of `sub4 tune`). */
export interface TrainSettings {
  method: TuneMethod;
  /** Quantize the float weights first to this many bits (null: train on the file's own types). */
  bits: 2 | 3 | 4 | null;
  /** Quantization group along the input dimension, or one per output row. */
  group: number | 'channel';
  rank: number;
  alpha: number;
  steps: number;
  /** Peak learning rate: warmup over steps/10, cosine to lr/10. */
  lr: number;
  batch: number;
  seqLen: number;
  /** Held-out loss every N steps (0: before and after only). */
  evalEvery: number;
  /** At most this many held-out windows are scored per evaluation. */
  evalWindows: number;
  /** Data order, LoRA init, LQ-LoRA sketches: the same seed repeats a run. */
  seed: number;
  /** Continued greedily before and after training ('' = no samples). */
  samplePrompt: string;
  sampleTokens: number;
  /** Write a checkpoint every N steps; null: about every minute of training (CHECKPOINT_SECONDS); 0: only at Pause, Stop, a hidden tab and the end. */
  checkpointEvery?: number | null;
  /** Stop when the held-out loss has not improved for N evaluations and end on the best (needs evalEvery); 0: off. */
  earlyStop?: number;
  /**
   * LQ-LoRA under a bit budget (`sub4 tune --budget B`): bits per linear weight, LoRA included; the base is
   * built by the budget plan (budget-plan) instead of `bits`. null or absent: off.
   */
  budget?: number | null;
  /**
   * DoRA (`sub4 tune --dora`): a magnitude per output row trained beside the LoRA factors (lora, lqlora, reallm).
   * Its exports: merged F16, or a PEFT DoRA adapter on a float/GPTQ base (src/export/export_dora.ts). Absent: off.
   */
  dora?: boolean;
  /** ReALLM (`--train-codebooks`): also train every learned table entry and row scale, the codes frozen. Absent: off. */
  trainCodebooks?: boolean;
  /**
   * Repair quantization: the loss is KL(teacher ‖ student) on the data's tokens (no labels needed), the teacher
   * the tab's own float model or a loaded teacher file (src/worker/repair.ts). null or absent: the label loss.
   */
  repair?: RepairSettings | null;
}

export interface TrainParams extends TrainSettings, TrainDataFile {
  /**
   * Continue the saved run with this id (runs-list) instead of starting one: its
   * settings come from the checkpoint, and the model and data must be the same files.
   */
  resume?: string;
}

/** A run saved in the browser's storage, as its checkpoint's header describes it. */
export interface SavedRun {
  id: string;
  /** Null when the checkpoint cannot be read (then `problem` says why; it can only be deleted). */
  method: string | null;
  model: string | null;
  data: string | null;
  step: number;
  totalSteps: number;
  /** Bytes of every file the run keeps. */
  bytes: number;
  /** When the checkpoint was last written (ms since 1970). */
  savedAt: number;
  problem: string | null;
  /** A repair's teacher, as the run named it (its checkpoint's teacherKey); null for the label loss. */
  teacher?: string | null;
}

export interface SavedRunsReport {
  runs: SavedRun[];
  /** navigator.storage.estimate() of the whole page, when the browser tells. */
  storage: { usage: number; quota: number } | null;
}

/** The planner's peak GPU memory for a run with these settings on the current model. */
export interface TrainPlanReport {
  total: number;
  parts: Record<PartName, number>;
  largest: { name: string; bytes: number };
  /** Why the device cannot run it (a buffer over its binding limit), else null. */
  refused: string | null;
  /** What the method trains here, and what it leaves frozen. */
  notes: string[];
}

/** One optimizer step, as the loss chart and the stats read it. */
export interface TrainStepPoint {
  step: number;
  loss: number;
  lr: number;
  tokensPerSecond: number;
  /** Live GPU bytes after the step (the device's ledger). */
  gpuBytes: number;
  /** Training time so far, pauses excluded (for the ETA). */
  elapsedMs: number;
  /** A bad step (non-finite loss or gradients) the optimizer did not apply, in words. */
  skipped?: string;
}

/** What a train request streams: step points (batched, at most ~10 messages a second), evals, samples, pause state. */
export type TrainStream =
  | { type: 'steps'; points: TrainStepPoint[] }
  /** `gap`: a repair's held-out figures against its teacher at this evaluation. */
  | { type: 'eval'; step: number; loss: number; ppl: number; tokens: number; gap?: TeacherGap }
  | { type: 'sample'; when: 'before' | 'after'; prompt: string; text: string }
  | { type: 'state'; state: 'running' | 'paused' }
  /** The run's id in the browser's storage (sent first; a resumed run keeps its id). */
  | { type: 'run'; id: string; resumedFrom: number | null; losses: number[]; repair?: boolean }
  /** A checkpoint was written: the run can be resumed from `step` after a reload. */
  | { type: 'checkpoint'; step: number; where: string }
  /** Something the run went through in words: a lost device replaced, a checkpoint not written, the held-out guard. */
  | { type: 'note'; text: string; kind: 'device' | 'storage' | 'guard' };

/**
 * How a train request ends. Stop ends it early and keeps what was trained (stop 'stopped'); so does an error
 * after some steps were applied (stop 'failed', with `failure`). A run that trained no step keeps nothing.
 */
export interface TrainReport extends WeightsPlaced {
  stop: 'done' | 'stopped' | 'bad-steps' | 'failed' | 'early-stop';
  /** The error that ended a 'failed' run; else null. */
  failure: { name: string; message: string } | null;
  /** What the result says that the outcome does not (the held-out loss rose): src/train/outcome.ts. */
  warnings: string[];
  steps: number;
  totalSteps: number;
  evalBefore: { loss: number; ppl: number } | null;
  evalAfter: { loss: number; ppl: number } | null;
  /** Mean over the run's steps. */
  tokensPerSecond: number;
  peakGpuBytes: number;
  seconds: number;
  samples: { prompt: string; before: string | null; after: string | null };
  /** Notes of the set-up (layers left frozen, LQ-LoRA) and of the run (a device lost and replaced). */
  notes: string[];
  /** The run's id in the browser's storage (its checkpoints: runs-list). */
  runId: string;
  /** How many times a lost GPU device was replaced during the run. */
  recoveries: number;
  /** A repair's teacher and the gap to it before and after; null for the label loss. */
  repair: RepairReport | null;
}

/** What `calibrate` reads: the dropped data as train-data reads it, and at most `windows` of its training windows. */
export interface CalibrateParams extends TrainDataParams {
  windows: number;
}

/** The importance matrix the worker collected and keeps for the current model (src/model/imatrix.ts). */
export interface CalibrationReport extends WeightsPlaced {
  /** Data file it was collected on. */
  file: string;
  /** Weight matrices with an entry. */
  entries: number;
  /** Token rows summed (windows × window length). */
  tokens: number;
  windows: number;
  windowLength: number;
  /** Numbered per model: the budget plan it weighted says which one. */
  id: number;
}

/** The kept imatrix as a llama.cpp GGUF imatrix file, to save. */
export interface CalibrationFile {
  blob: Blob;
  name: string;
  bytes: number;
}

/** One matrix of the budget plan (src/train/budget/plan.ts PlanRow, as the page shows it). */
export interface BudgetPlanRow {
  name: string;
  type: string;
  rank: number;
  bytes: number;
  /** Its weighted squared error, and relative to its weighted norm. */
  error: number;
  rel: number;
}

/** The plan `budget-plan` measured and solved; Start builds the base by it. */
export interface BudgetPlanReport {
  budget: number;
  /** Bits per linear weight of the plan (LoRA at 16 bits per value), ≤ budget. */
  bits: number;
  /** Bytes of the linear layers (quantized base + LoRA factors). */
  bytes: number;
  weights: number;
  /** Total (importance-weighted, when calibrated) squared error. */
  error: number;
  /** The calibration that weighted it (CalibrationReport.id), else null. */
  imatrix: number | null;
  rows: BudgetPlanRow[];
  skipped: string[];
  /**
   * The quantizer pool this request used (src/worker/quantize_pool.ts): its workers (1: the engine worker's
   * own thread) and the chunks posted to them (0 when a kept plan was shown again, or every matrix ran inline).
   */
  pool: { workers: number; chunks: number };
}
