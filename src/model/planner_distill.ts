// What a live distillation teacher adds to a training step's peak GPU bytes,
// counted from the same tables the engine allocates from (as planner.ts does
// for the student): the teacher's weights as loadWeights holds them, its
// forward activations (nothing saved: it never runs a backward; with DWQ's
// hidden-state term its residual stream per layer, which the student's step
// reads), one logits
// chunk read back at a time (src/train/distill/teacher.ts), and the rows handed
// to the student's loss (top-K ids and log-probabilities, tail, id bitmask) with
// the loss's own temporaries beyond the cross-entropy's it replaces. Counted as
// if all of it were resident at once: the teacher's chunk is freed before the
// student's step, so this errs on the safe side by at most one [R, V] buffer.
import { crossEntropySlices } from '../gpu/kernels/cross_entropy.ts';
import { checkPlanFits, PlanRefusedError, type DeviceLimits } from './planner.ts';
import { memberWords } from '../gpu/kernels/distill.ts';
import { groupsPerRow, wordsPerRow } from '../quant/qtensor.ts';
import type { LlamaConfig } from '../arch/config.ts';
import { paramSpec } from '../arch/params.ts';
import { entryBytes } from './grad_spec.ts';
import type { LinearStorage, StepPlan } from './planner.ts';
import { planActivations } from './spec.ts';

export interface TeacherPlanInput {
  /** The teacher's config (its vocabulary equals the student's). */
  config: LlamaConfig;
  storage(name: string): LinearStorage;
  B: number;
  T: number;
  topK: number;
  /** Teacher logit rows per read-back; default 64. */
  chunk?: number;
  /** Cached mode: only the rows uploaded per step (the teacher is not on the GPU while the student trains). */
  cached?: boolean;
  /** DWQ's hidden-state term: the teacher keeps its residual stream per layer (activations planned 'inputs'). */
  hidden?: boolean;
}

export interface TeacherPlan {
  total: number;
  parts: { weights: number; activations: number; logits: number; rows: number };
  largest: { name: string; bytes: number };
}

export function planTeacher(p: TeacherPlanInput): TeacherPlan {
  const c = p.config;
  const N = p.B * p.T;
  const parts = { weights: 0, activations: 0, logits: 0, rows: 0 };
  let largest = { name: '', bytes: 0 };
  const count = (part: keyof typeof parts, name: string, shape: number[], splittable = false) => {
    const bytes = entryBytes(shape);
    parts[part] += bytes;
    if (!splittable && bytes > largest.bytes) largest = { name: `teacher ${name}`, bytes };
  };
  const R = Math.min(p.chunk ?? 64, N);
  const V = c.vocabSize;
  if (p.cached) return finishRows(count, parts, () => largest, N, V, p.topK, R);
  for (const e of paramSpec(c)) {
    if (e.kind === 'rope_freqs') continue;
    // The token table as the linear weights: f32 or quantized as the file holds it (src/model/embedding.ts).
    const s = e.kind === 'linear' || e.kind === 'embedding' ? p.storage(e.name) : ({ kind: 'dense' } as const);
    if (s.kind === 'dense') count('weights', e.name, e.shape);
    else {
      const [O, I] = e.shape;
      count('weights', `${e.name} codes`, [O, wordsPerRow(I, s.bits)], true);
      count('weights', `${e.name} scale`, [O, groupsPerRow(I, s.groupSize)]);
      count('weights', `${e.name} offset`, [O, groupsPerRow(I, s.groupSize)]);
    }
  }
  // The RoPE table, and a second one when the sliding layers have their own base (Gemma 3: loadWeights' ropeLocal).
  for (let i = 0; i < (c.ropeThetaLocal !== undefined ? 2 : 1); i++) {
    count('weights', 'rope.turns', [c.headDim / 2, 2]);
    count('weights', 'rope.no_k', [1]);
  }
  for (const s of planActivations(c, p.B, p.T, p.hidden ? 'inputs' : false).slots) count('activations', `act.${s.key}`, s.shape);
  count('logits', 'logits', [R, V]);
  count('logits', 'logits.hidden_rows', [R, c.hiddenSize]);
  return finishRows(count, parts, () => largest, N, V, p.topK, R);
}

type Count = (part: keyof TeacherPlan['parts'], name: string, shape: number[], splittable?: boolean) => void;

/** The rows handed to the student's loss (both modes) and the loss's temporaries. */
function finishRows(count: Count, parts: TeacherPlan['parts'], largest: () => TeacherPlan['largest'], N: number, V: number, K: number, R: number): TeacherPlan {
  count('rows', 'distill.ids', [N, K]);
  count('rows', 'distill.logp', [N, K]);
  count('rows', 'distill.tail', [N]);
  count('rows', 'distill.member', [N, memberWords(V)]);
  count('rows', 'distill.stat', [N, 8]);
  count('rows', 'distill.partials beyond cross-entropy', [R, crossEntropySlices(V), 2]);
  return { total: parts.weights + parts.activations + parts.logits + parts.rows, parts, largest: largest() };
}

/** The student's step plan with the teacher added: its bytes in the total and its largest buffer considered. */
export function withTeacher(student: StepPlan, teacher: TeacherPlan): StepPlan & { teacher: TeacherPlan } {
  return {
    ...student,
    total: student.total + teacher.total,
    largest: teacher.largest.bytes > student.largest.bytes ? teacher.largest : student.largest,
    teacher,
  };
}

export type TeacherMode = 'live' | 'cached';

export interface TeacherModeChoice {
  mode: TeacherMode;
  /** Why, in words (printed by the CLI). */
  why: string;
  /** The plan of the training steps in that mode (student + the teacher's share). */
  plan: StepPlan & { teacher: TeacherPlan };
}

/**
 * Live or cached. Live runs the teacher beside the student each step (no disk,
 * no up-front pass); cached runs it once alone, before the student is loaded,
 * and the steps then only upload its rows. `auto` takes live when student and
 * teacher fit together and cached when only the cached plan fits: within the
 * device's buffer limits always, and within `available` bytes when the caller
 * knows the device's memory (WebGPU does not say it; null: not known). A mode
 * forced (`--teacher-mode`) is checked the same way and refused with the
 * planner's error when it cannot fit. The cache build's own peak (the teacher
 * alone: `live` minus the rows) is never above the live run's.
 */
export function chooseTeacherMode(p: { mode: TeacherMode | 'auto'; student: StepPlan; live: TeacherPlan; cached: TeacherPlan; limits: DeviceLimits; available: number | null }): TeacherModeChoice {
  const budget = p.available ?? undefined;
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const live = withTeacher(p.student, p.live);
  const cached = withTeacher(p.student, p.cached);
  const build: StepPlan = { ...p.student, total: p.live.total, largest: p.live.largest };
  const fits = (plan: StepPlan, what: string): PlanRefusedError | null => {
    try {
      checkPlanFits(plan, p.limits, budget, what);
      return null;
    } catch (e) {
      if (e instanceof PlanRefusedError) return e;
      throw e;
    }
  };
  const liveErr = fits(live, 'this distillation run (student and live teacher)');
  if (p.mode === 'live') {
    if (liveErr) throw liveErr;
    return { mode: 'live', why: `--teacher-mode live: student and teacher together ${mib(live.total)}`, plan: live };
  }
  const cachedErr = fits(cached, 'this distillation run (student and cached teacher rows)') ?? fits(build, 'the teacher cache build (the teacher alone)');
  if (p.mode === 'cached') {
    if (cachedErr) throw cachedErr;
    return { mode: 'cached', why: `--teacher-mode cached: the steps plan ${mib(cached.total)} (the teacher alone ${mib(p.live.total)} while the cache is built)`, plan: cached };
  }
  if (!liveErr) return { mode: 'live', why: `student and teacher fit together (${mib(live.total)}${p.available === null ? '; the device memory is not known to WebGPU: --teacher-mode cached to use a cache instead' : ` of ${mib(p.available)}`})`, plan: live };
  if (!cachedErr) return { mode: 'cached', why: `the teacher does not fit beside the student (${liveErr.message.replace(/^.*?: /, '')}); cached, the steps plan ${mib(cached.total)}`, plan: cached };
  throw cachedErr;
}
