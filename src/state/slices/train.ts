// Train slice: the training panel's settings (as typed, so the engine names a
// bad field), the dropped dataset's report, the planner's estimate, and the run:
// status, the loss series of the chart (train per step, eval per evaluation),
// tokens/s, ETA, GPU bytes, the samples before and after, the outcome. Data
// reads, plans and runs are numbered like model loads, so a late answer of an
// older one is dropped here.
import type { StateCreator } from 'zustand/vanilla';
import type { BudgetPlanReport, CalibrationReport, ProgressEvent, TeacherReport, TrainDataReport, TrainPlanReport, TrainReport, TrainSettings, TrainStepPoint, TrainStream } from '../../worker/protocol.ts';
import type { TuneMethod } from '../../train/setup.ts';
import { toErrorText, type ErrorText } from '../errors.ts';
import type { AppState } from '../store.ts';
import type { RunProgress } from './generate.ts';
import { withoutDataResults } from './stale.ts';

/** The form: numbers stay the text typed (parsed at Start; an empty box is NaN, which the worker names). */
export interface TrainForm {
  preset: string;
  method: TuneMethod;
  /** 'file': train on the model's own types; else quantize float weights to this many bits first. */
  bits: 'file' | '2' | '3' | '4';
  /** A number, or 'channel'. */
  group: string;
  rank: string;
  alpha: string;
  steps: string;
  lr: string;
  batch: string;
  seqLen: string;
  evalEvery: string;
  evalWindows: string;
  seed: string;
  samplePrompt: string;
  sampleTokens: string;
  /** Chat data on a model without a chat template: plain "User:/Assistant:" turns (a data option, not a setting). */
  plainChat: boolean;
  /** Steps between checkpoints; '' = about every minute (the worker's CHECKPOINT_SECONDS). */
  checkpointEvery: string;
  /** Held-out evaluations without improvement before the run stops ('0' = off). */
  earlyStop: string;
  /** LQ-LoRA under a bit budget: bits per linear weight, LoRA included ('' = off: every layer at `bits`). */
  budget: string;
  /** DoRA beside the LoRA factors (sent only with LoRA, LQ-LoRA and ReALLM: DORA_METHODS). */
  dora: boolean;
  /** ReALLM: train the learned tables and row scales too, the codes frozen (sent only with ReALLM). */
  trainCodebooks: boolean;
  /** Repair quantization: distill from the unquantized teacher instead of the labels. */
  repair: boolean;
  /** The repair's teacher: this tab's float model (the student quantized from it here), or the loaded teacher file. */
  teacher: 'self' | 'file';
}

export const defaultTrainForm: TrainForm = {
  preset: 'peqa4',
  method: 'peqa',
  bits: '4',
  group: '32',
  rank: '8',
  alpha: '16',
  steps: '100',
  lr: '1e-3', // the PEQA 4-bit preset's (TrainSettings.tsx says what was measured)
  batch: '4',
  seqLen: '128',
  evalEvery: '0',
  evalWindows: '16',
  seed: '0',
  samplePrompt: 'Once upon a time',
  sampleTokens: '24',
  plainChat: false,
  checkpointEvery: '',
  earlyStop: '0',
  budget: '',
  dora: false,
  trainCodebooks: false,
  repair: false,
  teacher: 'self',
};

/** The bit-budget slider's range and the budget it starts at (bits per linear weight, LoRA included). */
export const BUDGET_RANGE = { min: 2, max: 8, step: 0.1, start: 5 } as const;

/** Training windows the importance matrix is collected over (at most). */
export const CALIBRATION_WINDOWS = 64;

/** The methods DoRA goes with (LoRA factors on a frozen base), as the worker and `sub4 tune --dora` take them. */
export const DORA_METHODS: readonly TuneMethod[] = ['lora', 'lqlora', 'reallm'];

const num = (text: string) => (text.trim() === '' ? Number.NaN : Number(text));

/** The form as the request's settings. */
export function formSettings(f: TrainForm): TrainSettings {
  return {
    method: f.method,
    bits: f.bits === 'file' ? null : (Number(f.bits) as 2 | 3 | 4),
    group: f.group.trim() === 'channel' ? 'channel' : num(f.group),
    rank: num(f.rank),
    alpha: num(f.alpha),
    steps: num(f.steps),
    lr: num(f.lr),
    batch: num(f.batch),
    seqLen: num(f.seqLen),
    evalEvery: num(f.evalEvery),
    evalWindows: num(f.evalWindows),
    seed: num(f.seed),
    samplePrompt: f.samplePrompt,
    sampleTokens: num(f.sampleTokens),
    checkpointEvery: f.checkpointEvery.trim() === '' ? null : num(f.checkpointEvery),
    earlyStop: num(f.earlyStop),
    budget: f.method === 'lqlora' && f.budget.trim() !== '' ? num(f.budget) : null,
    repair: f.repair ? { teacher: f.teacher } : null,
    // A switch the chosen method has no use for stays off (the form keeps it for when the method comes back).
    dora: f.dora && DORA_METHODS.includes(f.method),
    trainCodebooks: f.trainCodebooks && f.method === 'reallm',
  };
}

export type TrainRunStatus = 'idle' | 'running' | 'paused' | 'done' | 'stopped' | 'error';

/** A finished run that trained at least one step: the worker keeps it for export and the tuned Generate. */
export function runTrained(r: TrainRunState): boolean {
  return (r.status === 'done' || r.status === 'stopped') && (r.result?.steps ?? 0) > 0;
}

export interface TrainRunState {
  status: TrainRunStatus;
  runId: number;
  /** The model load (ModelState.loadId) the run trained: a later load leaves it behind in the worker. */
  loadId: number;
  /** Pause / Stop pressed; the worker acts between steps. */
  pausing: boolean;
  stopping: boolean;
  progress: RunProgress | null;
  totalSteps: number;
  /** The chart's series: x = step. */
  steps: number[];
  losses: number[];
  evalSteps: number[];
  evalLosses: number[];
  /** A repair (the step loss is then the KL to the teacher): its held-out KL per evaluation, x = step. */
  repair: boolean;
  klEvalSteps: number[];
  klEvals: number[];
  last: TrainStepPoint | null;
  /** Mean of the last few steps' tokens/s. */
  tokensPerSecond: number;
  /** Seconds left at the pace so far (pauses excluded); null before the first step. */
  etaSeconds: number | null;
  /** Steps the optimizer skipped (non-finite), and the last reason. */
  skipped: number;
  skippedWhy: string | null;
  samples: { prompt: string; before: string | null; after: string | null };
  result: TrainReport | null;
  error: ErrorText | null;
  /** The run's id in the browser's storage (its checkpoints), once the worker has said it. */
  savedId: string | null;
  /** The step the run continued from (a resumed run), else null. */
  resumedFrom: number | null;
  /** The step of the last checkpoint written: a reload resumes from there. */
  checkpointStep: number | null;
  /** What the run went through in words: a lost device replaced, a checkpoint not written, the guard. */
  notes: { text: string; kind: 'device' | 'storage' | 'guard' }[];
}

export interface TrainState {
  form: TrainForm;
  data: { reqId: number; status: 'idle' | 'reading' | 'ready' | 'error'; name: string | null; progress: RunProgress | null; report: TrainDataReport | null; error: ErrorText | null };
  plan: { reqId: number; status: 'idle' | 'planning' | 'ready' | 'error'; report: TrainPlanReport | null; error: ErrorText | null };
  run: TrainRunState;
  /** The importance matrix over the dropped data ("Calibrate on this data"), kept in the worker for the model's runs. */
  calibration: { reqId: number; status: 'idle' | 'running' | 'ready' | 'error'; progress: RunProgress | null; report: CalibrationReport | null; error: ErrorText | null };
  /** LQ-LoRA's plan at the slider's bit budget. */
  budget: { reqId: number; status: 'idle' | 'planning' | 'ready' | 'error'; progress: RunProgress | null; report: BudgetPlanReport | null; error: ErrorText | null };
  /** Repair's teacher file, opened and checked in the worker (teacher-load) and kept there for the model's runs. */
  teacher: { reqId: number; status: 'idle' | 'loading' | 'ready' | 'error'; progress: RunProgress | null; report: TeacherReport | null; error: ErrorText | null };
}

export interface TrainSlice {
  train: TrainState;
  trainFormChanged(patch: Partial<TrainForm>): void;
  /** `newFile`: a different file than the last read (its report and the last run leave the panel). */
  trainDataStarted(name: string, newFile: boolean): number;
  trainDataProgress(reqId: number, p: ProgressEvent): void;
  trainDataRead(reqId: number, r: TrainDataReport): void;
  trainDataFailed(reqId: number, err: unknown): void;
  trainPlanStarted(): number;
  trainPlanned(reqId: number, r: TrainPlanReport): void;
  trainPlanFailed(reqId: number, err: unknown): void;
  trainStarted(totalSteps: number, samplePrompt: string, repair?: boolean): number;
  trainProgress(runId: number, p: ProgressEvent): void;
  trainStream(runId: number, e: TrainStream): void;
  trainPausing(runId: number): void;
  trainResuming(runId: number): void;
  trainStopping(runId: number): void;
  trainFinished(runId: number, r: TrainReport): void;
  trainFailed(runId: number, err: unknown): void;
  calibrationStarted(): number;
  calibrationProgress(reqId: number, p: ProgressEvent): void;
  calibrated(reqId: number, r: CalibrationReport): void;
  /** `cancelled`: the user stopped it; the previous matrix, if any, is still the worker's. */
  calibrationFailed(reqId: number, err: unknown, cancelled: boolean): void;
  budgetStarted(): number;
  budgetProgress(reqId: number, p: ProgressEvent): void;
  budgetPlanned(reqId: number, r: BudgetPlanReport): void;
  budgetFailed(reqId: number, err: unknown): void;
  teacherStarted(): number;
  teacherProgress(reqId: number, p: ProgressEvent): void;
  teacherLoaded(reqId: number, r: TeacherReport): void;
  teacherFailed(reqId: number, err: unknown): void;
}

export const initialTrainRun: TrainRunState = {
  status: 'idle',
  runId: 0,
  loadId: 0,
  pausing: false,
  stopping: false,
  progress: null,
  totalSteps: 0,
  steps: [],
  losses: [],
  evalSteps: [],
  evalLosses: [],
  repair: false,
  klEvalSteps: [],
  klEvals: [],
  last: null,
  tokensPerSecond: 0,
  etaSeconds: null,
  skipped: 0,
  skippedWhy: null,
  samples: { prompt: '', before: null, after: null },
  result: null,
  error: null,
  savedId: null,
  resumedFrom: null,
  checkpointStep: null,
  notes: [],
};

export const initialTrainState: TrainState = {
  form: defaultTrainForm,
  data: { reqId: 0, status: 'idle', name: null, progress: null, report: null, error: null },
  plan: { reqId: 0, status: 'idle', report: null, error: null },
  run: initialTrainRun,
  calibration: { reqId: 0, status: 'idle', progress: null, report: null, error: null },
  budget: { reqId: 0, status: 'idle', progress: null, report: null, error: null },
  teacher: { reqId: 0, status: 'idle', progress: null, report: null, error: null },
};

/** Tokens/s is averaged over this many recent steps (one step's figure jumps with the machine's load). */
const SPEED_WINDOW = 8;

/** The run with a batch of step points added. */
function withSteps(r: TrainRunState, points: TrainStepPoint[]): Partial<TrainRunState> {
  if (points.length === 0) return {};
  const last = points.at(-1)!;
  const recent = [...(r.last ? [r.last] : []), ...points].slice(-SPEED_WINDOW);
  const skippedNow = points.filter((p) => p.skipped);
  return {
    steps: r.steps.concat(points.map((p) => p.step)),
    losses: r.losses.concat(points.map((p) => p.loss)),
    last,
    tokensPerSecond: recent.reduce((a, p) => a + p.tokensPerSecond, 0) / recent.length,
    etaSeconds: last.step > 0 ? ((last.elapsedMs / last.step) * Math.max(0, r.totalSteps - last.step)) / 1000 : null,
    skipped: r.skipped + skippedNow.length,
    skippedWhy: skippedNow.at(-1)?.skipped ?? r.skippedWhy,
  };
}

export const createTrainSlice: StateCreator<AppState, [], [], TrainSlice> = (set, get) => {
  const patchData = (reqId: number, p: Partial<TrainState['data']>) =>
    set((s) => (s.train.data.reqId === reqId ? { train: { ...s.train, data: { ...s.train.data, ...p } } } : s));
  const patchPlan = (reqId: number, p: Partial<TrainState['plan']>) =>
    set((s) => (s.train.plan.reqId === reqId ? { train: { ...s.train, plan: { ...s.train.plan, ...p } } } : s));
  const patchCalibration = (reqId: number, p: Partial<TrainState['calibration']>) =>
    set((s) => (s.train.calibration.reqId === reqId ? { train: { ...s.train, calibration: { ...s.train.calibration, ...p } } } : s));
  const patchBudget = (reqId: number, p: Partial<TrainState['budget']>) =>
    set((s) => (s.train.budget.reqId === reqId ? { train: { ...s.train, budget: { ...s.train.budget, ...p } } } : s));
  const patchTeacher = (reqId: number, p: Partial<TrainState['teacher']>) =>
    set((s) => (s.train.teacher.reqId === reqId ? { train: { ...s.train, teacher: { ...s.train.teacher, ...p } } } : s));
  const patchRun = (runId: number, p: (r: TrainRunState) => Partial<TrainRunState>) =>
    set((s) => (s.train.run.runId === runId ? { train: { ...s.train, run: { ...s.train.run, ...p(s.train.run) } } } : s));
  return {
    train: initialTrainState,
    trainFormChanged: (patch) => set((s) => ({ train: { ...s.train, form: { ...s.train.form, ...patch } } })),

    trainDataStarted: (name, newFile) => {
      const reqId = get().train.data.reqId + 1;
      // The same file read again (new seq len or seed) keeps its report on screen until the new one comes;
      // a different file's read starts empty, so no counts or preview show under a name they are not of.
      set((s) => {
        const base = newFile ? withoutDataResults(s) : {};
        const train = base.train ?? s.train;
        return { ...base, train: { ...train, data: { ...train.data, reqId, status: 'reading', name, progress: null, error: null, ...(newFile ? { report: null } : {}) } } };
      });
      return reqId;
    },
    trainDataProgress: (reqId, p) => patchData(reqId, { progress: { phase: p.phase, done: p.done, total: p.total } }),
    trainDataRead: (reqId, r) => patchData(reqId, { status: 'ready', report: r, progress: null }),
    trainDataFailed: (reqId, err) => patchData(reqId, { status: 'error', report: null, error: toErrorText(err), progress: null }),

    trainPlanStarted: () => {
      const reqId = get().train.plan.reqId + 1;
      set((s) => ({ train: { ...s.train, plan: { ...s.train.plan, reqId, status: 'planning' } } }));
      return reqId;
    },
    trainPlanned: (reqId, r) => patchPlan(reqId, { status: 'ready', report: r, error: null }),
    trainPlanFailed: (reqId, err) => patchPlan(reqId, { status: 'error', report: null, error: toErrorText(err) }),

    trainStarted: (totalSteps, samplePrompt, repair = false) => {
      const runId = get().train.run.runId + 1;
      set((s) => ({ train: { ...s.train, run: { ...initialTrainRun, status: 'running', runId, loadId: get().model.loadId, totalSteps, repair, samples: { prompt: samplePrompt, before: null, after: null } } } }));
      return runId;
    },
    trainProgress: (runId, p) => patchRun(runId, () => ({ progress: { phase: p.phase, done: p.done, total: p.total } })),
    trainStream: (runId, e) =>
      patchRun(runId, (r) => {
        switch (e.type) {
          case 'steps':
            return withSteps(r, e.points);
          case 'eval':
            return {
              evalSteps: [...r.evalSteps, e.step],
              evalLosses: [...r.evalLosses, e.loss],
              ...(e.gap ? { repair: true, klEvalSteps: [...r.klEvalSteps, e.step], klEvals: [...r.klEvals, e.gap.kl] } : {}),
            };
          case 'sample':
            return { samples: { ...r.samples, prompt: e.prompt, [e.when]: e.text } };
          case 'state':
            return r.status === 'running' || r.status === 'paused' ? { status: e.state, pausing: false } : {};
          case 'run':
            // A resumed run's chart starts with the losses its checkpoint kept.
            return { savedId: e.id, resumedFrom: e.resumedFrom, steps: e.losses.map((_, i) => i + 1), losses: [...e.losses], repair: e.repair === true };
          case 'checkpoint':
            return { checkpointStep: e.step };
          case 'note':
            return { notes: [...r.notes, { text: e.text, kind: e.kind }] };
        }
      }),
    trainPausing: (runId) => patchRun(runId, (r) => (r.status === 'running' ? { pausing: true } : {})),
    trainResuming: (runId) => patchRun(runId, (r) => (r.status === 'paused' || r.pausing ? { pausing: false } : {})),
    trainStopping: (runId) => patchRun(runId, (r) => (r.status === 'running' || r.status === 'paused' ? { stopping: true } : {})),
    trainFinished: (runId, r) =>
      // A run an error ended after some steps is kept like a stopped one (its report says what happened).
      patchRun(runId, () => ({ status: r.stop === 'stopped' || r.stop === 'failed' ? 'stopped' : 'done', result: r, samples: r.samples, pausing: false, stopping: false, etaSeconds: 0, progress: null })),
    trainFailed: (runId, err) => patchRun(runId, () => ({ status: 'error', error: toErrorText(err), pausing: false, stopping: false, progress: null })),

    calibrationStarted: () => {
      const reqId = get().train.calibration.reqId + 1;
      set((s) => ({ train: { ...s.train, calibration: { ...s.train.calibration, reqId, status: 'running', progress: null, error: null } } }));
      return reqId;
    },
    calibrationProgress: (reqId, p) => patchCalibration(reqId, { progress: { phase: p.phase, done: p.done, total: p.total } }),
    calibrated: (reqId, r) => patchCalibration(reqId, { status: 'ready', report: r, progress: null }),
    calibrationFailed: (reqId, err, cancelled) =>
      set((s) =>
        s.train.calibration.reqId === reqId
          ? { train: { ...s.train, calibration: { ...s.train.calibration, status: s.train.calibration.report ? 'ready' : 'idle', progress: null, error: cancelled ? null : toErrorText(err) } } }
          : s,
      ),

    budgetStarted: () => {
      const reqId = get().train.budget.reqId + 1;
      set((s) => ({ train: { ...s.train, budget: { ...s.train.budget, reqId, status: 'planning', progress: null } } }));
      return reqId;
    },
    budgetProgress: (reqId, p) => patchBudget(reqId, { progress: { phase: p.phase, done: p.done, total: p.total } }),
    budgetPlanned: (reqId, r) => patchBudget(reqId, { status: 'ready', report: r, error: null, progress: null }),
    budgetFailed: (reqId, err) => patchBudget(reqId, { status: 'error', report: null, error: toErrorText(err), progress: null }),

    teacherStarted: () => {
      const reqId = get().train.teacher.reqId + 1;
      set((s) => ({ train: { ...s.train, teacher: { ...s.train.teacher, reqId, status: 'loading', progress: null, error: null } } }));
      return reqId;
    },
    teacherProgress: (reqId, p) => patchTeacher(reqId, { progress: { phase: p.phase, done: p.done, total: p.total } }),
    teacherLoaded: (reqId, r) => patchTeacher(reqId, { status: 'ready', report: r, progress: null }),
    // A refused teacher leaves none, in the worker too.
    teacherFailed: (reqId, err) => patchTeacher(reqId, { status: 'error', report: null, error: toErrorText(err), progress: null }),
  };
};
