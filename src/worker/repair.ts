// "Repair quantization (no labels needed)": the studio's side of `sub4 tune
// --distill`. The student (the current model, usually quantized here by --bits)
// learns KL(teacher ‖ student) over the whole vocabulary on any text, from
//   - the tab's own float model, when the student is quantized from it here
//     (the teacher is the same file loaded unquantized: no second file), or
//   - a teacher file opened by `teacher-load` (a float .gguf / HF folder, or
//     Q8_0), checked against the current model (vocabulary, tokenizer, float)
//     and kept for its runs like the calibration (a new model drops it).
// The teacher runs live beside the student. The planner may say it only fits
// cached (its top-K rows computed once and read back): the studio has no cached
// mode yet, so it runs live and says so in the plan's notes and the run's report.
// Every evaluation also scores the held-out gap to the teacher (KL, top-1
// agreement, both perplexities: src/train/distill/eval.ts).
import { openModel } from '../io/model.ts';
import type { LoadedModel } from '../io/loaded_model.ts';
import { LlamaModel } from '../model/llama.ts';
import { storageOf, type DeviceLimits, type StepPlan } from '../model/planner.ts';
import { chooseTeacherMode, planTeacher } from '../model/planner_distill.ts';
import type { Trainable } from '../model/trainable.ts';
import { loadWeights, type ModelWeights } from '../model/weights.ts';
import type { GpuContext } from '../gpu/device.ts';
import type { Windows } from '../train/data/pack.ts';
import { evaluateDistill, heldOutKlGuard, type DistillEval } from '../train/distill/eval.ts';
import { checkTeacherIsFloat, checkTeacherMatches, DistillTeacherError, LiveTeacher } from '../train/distill/teacher.ts';
import { Trainer, type EvalEvent, type StopFlag, type TrainerOptions } from '../train/trainer.ts';
import { CheckpointError } from '../train/checkpoint/errors.ts';
import { modelIdentity } from '../train/checkpoint/identity.ts';
import { NoModelError, RequestParamError } from './errors.ts';
import type { HandlerEnv, HandlerIO } from './handler_env.ts';
import { chooseModel } from './model_files.ts';
import { assertPlainData } from './plain_data.ts';
import type { EngineRequest, RepairReport, RepairSettings, TeacherGap, TeacherReport } from './protocol.ts';

/** The teacher file opened for each model (a new model's runs never see another's teacher). */
const teachers = new WeakMap<LoadedModel, { file: LoadedModel; report: TeacherReport }>();

export async function teacherLoad(req: EngineRequest<'teacher-load'>, io: HandlerIO<'teacher-load'>, env: HandlerEnv): Promise<TeacherReport> {
  if (!Array.isArray(req.files)) throw new TypeError('teacher-load needs `files`: an array of { path, file } with File objects.');
  const student = env.models.current;
  if (!student?.tokenizer) throw new NoModelError('No model with a tokenizer is loaded: load the model to repair first, then its teacher.');
  const choice = chooseModel(req.files);
  io.progress('reading header', 0, choice.bytes);
  const t = await openModel(choice.input);
  try {
    if (!t.tokenizer) throw new DistillTeacherError(student.name, t.name, `it has no usable tokenizer (${t.tokenizerProblem ?? 'none found'}), so its vocabulary cannot be checked against the student's`);
    checkTeacherIsFloat(student.name, t);
    checkTeacherMatches({ file: student, tokenizer: student.tokenizer }, { file: t, tokenizer: t.tokenizer });
    io.signal.throwIfAborted();
  } catch (e) {
    await t.close();
    // A refused teacher leaves none (not the previous one): a run never uses a teacher the page no longer shows.
    const previous = teachers.get(student);
    teachers.delete(student);
    await previous?.file.close();
    throw e;
  }
  const report = assertPlainData({ name: t.name, opened: choice.opened, types: [...new Set([...t.tensors.values()].map((x) => x.type))], vocab: t.config.vocabSize, bytes: choice.bytes }, 'teacher-load');
  const previous = teachers.get(student);
  teachers.set(student, { file: t, report });
  if (previous && previous.file !== t) await previous.file.close();
  io.progress('reading header', choice.bytes, choice.bytes);
  return report;
}

/** The settings' repair, checked (null: the label loss). */
export function checkRepair(r: RepairSettings | null | undefined): RepairSettings | null {
  if (r === null || r === undefined) return null;
  if (r.teacher !== 'self' && r.teacher !== 'file') throw new RequestParamError('teacher', `must be 'self' (this tab's float model) or 'file', got ${String(r.teacher)}`);
  return { teacher: r.teacher };
}

export interface RunTeacher {
  file: LoadedModel;
  /** In the page's words. */
  name: string;
}

/** The teacher of a run on `student` with these settings, or null; a typed error when there is none to use. */
export function teacherOf(student: LoadedModel, s: { repair: RepairSettings | null; bits: number | null }): RunTeacher | null {
  if (!s.repair) return null;
  if (s.repair.teacher === 'self') {
    if (s.bits === null)
      throw new RequestParamError('teacher', `this tab's model teaches only a student quantized here from it: choose 2, 3 or 4 bits, or load a teacher file (its unquantized model)`);
    checkTeacherIsFloat(student.name, student);
    return { file: student, name: `${student.name} (this tab's float model)` };
  }
  const kept = teachers.get(student);
  if (!kept) throw new RequestParamError('teacher', `no teacher file is loaded for ${student.name}: drop or pick its unquantized model (.gguf or Hugging Face folder) under Repair quantization`);
  return { file: kept.file, name: kept.report.name };
}

/** What a checkpoint keeps of its teacher (its settings' teacherKey): a resume never continues from another one. */
export async function teacherKeyOf(t: RunTeacher | null): Promise<{ name: string; sha256: string } | null> {
  return t && { name: t.name, sha256: (await modelIdentity(t.file)).sha256 };
}

/** Refuse to resume checkpoint `file`, saved with teacher `saved`, from another teacher (or none, or one where it had none). */
export function checkResumeTeacher(file: string, saved: unknown, now: { name: string; sha256: string } | null): void {
  const s = (saved ?? null) as { name: string; sha256: string } | null;
  if (s?.sha256 === now?.sha256) return;
  throw new CheckpointError(
    file,
    s
      ? `was a repair from the teacher ${s.name}, ${now ? `not ${now.name}` : 'and this run has none'}: load the same teacher (and choose Repair quantization), then Resume`
      : 'was trained on the labels, not repaired from a teacher: turn Repair quantization off, then Resume',
  );
}

/** The run's plan with its live teacher, and the planner's choice in words. */
export function planRepair(student: StepPlan, t: RunTeacher, B: number, T: number, limits: DeviceLimits): { plan: StepPlan; why: string } {
  const input = { config: t.file.config, storage: storageOf(t.file), B, T, topK: t.file.config.vocabSize };
  const live = planTeacher(input);
  const c = chooseTeacherMode({ mode: 'auto', student, live, cached: planTeacher({ ...input, cached: true }), limits, available: null });
  if (c.mode === 'live') return { plan: c.plan, why: `Teacher live beside the student: ${c.why.replace(/; the device memory is not known to WebGPU.*\)$/, ')')}` };
  return {
    plan: { ...student, total: student.total + live.total },
    why: `Teacher live, although the planner would cache it: ${c.why}. The studio has no cached teacher yet (sub4 tune --teacher-mode cached has), so this run may not fit the device.`,
  };
}

/** A repair's teacher on a device: its weights, its model, the live source of the loss's rows. */
export interface TeacherParts {
  model: LlamaModel;
  source: LiveTeacher;
  destroy(): void;
}

export async function teacherParts(c: GpuContext, t: RunTeacher, B: number, T: number, progress: (done: number, total: number) => void): Promise<TeacherParts> {
  // The teacher as stored: the tab's own file is loaded unquantized (the student's quantized base is its own upload).
  const weights: ModelWeights = await loadWeights(c, t.file, { onProgress: progress });
  const model = new LlamaModel(c, weights);
  const source = new LiveTeacher(model, B, T, { topK: model.config.vocabSize, temperature: 1 });
  let live = true;
  return {
    model,
    source,
    // Idempotent: the kept run frees its teacher early, and a failure after that frees the run's parts again.
    destroy: () => {
      if (!live) return;
      live = false;
      source.destroy();
      weights.destroy();
    },
  };
}

/** An evaluation of a repair: the label loss, and the held-out gap to the teacher. */
export type RepairEval = EvalEvent & { gap?: DistillEval };

/** The Trainer of a repair: each evaluation also scores the student against its teacher on the same held-out windows. */
export class RepairTrainer extends Trainer {
  constructor(
    model: LlamaModel,
    trainable: Trainable,
    data: { train: Windows; eval: Windows },
    opts: TrainerOptions,
    private readonly teacher: LlamaModel,
  ) {
    super(model, trainable, data, opts);
  }

  override async evaluate(stop?: StopFlag): Promise<RepairEval | null> {
    const e = await super.evaluate(stop);
    if (!e || stop?.aborted) return e;
    const gap = await evaluateDistill(this.model, this.trainable, this.teacher, this.data.eval, this.B, this.opts.evalWindows);
    return gap ? { ...e, gap } : e;
  }
}

const gapOf = (e: EvalEvent | null): TeacherGap | null => {
  const g = (e as RepairEval | null)?.gap;
  return g ? { kl: g.kl, top1: g.top1, pplStudent: g.pplStudent, pplTeacher: g.pplTeacher, tokens: g.tokens } : null;
};

/** The report's repair: the gap before and after, and the guard (KL ended above where it started). */
export function repairReport(t: RunTeacher, why: string, before: EvalEvent | null, after: EvalEvent | null): RepairReport {
  const [b, a] = [gapOf(before), gapOf(after)];
  return { teacher: t.name, mode: 'live', why, before: b, after: a, guard: heldOutKlGuard(b, a, 'try a lower learning rate or fewer steps') };
}
