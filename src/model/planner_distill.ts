// What a live distillation teacher adds to a training step's peak GPU bytes,
// counted from the same tables the engine allocates from (as planner.ts does
// for the student): the teacher's weights as loadWeights holds them, its
// forward activations (nothing saved: it never runs a backward), one logits
// chunk read back at a time (src/train/distill/teacher.ts), and the rows handed
// to the student's loss (top-K ids and log-probabilities, tail, id bitmask) with
// the loss's own temporaries beyond the cross-entropy's it replaces. Counted as
// if all of it were resident at once: the teacher's chunk is freed before the
// student's step, so this errs on the safe side by at most one [R, V] buffer.
import { crossEntropySlices } from '../gpu/kernels/cross_entropy.ts';
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
  for (const e of paramSpec(c)) {
    if (e.kind === 'rope_freqs') continue;
    const s = e.kind === 'linear' ? p.storage(e.name) : ({ kind: 'dense' } as const);
    if (s.kind === 'dense') count('weights', e.name, e.shape);
    else {
      const [O, I] = e.shape;
      count('weights', `${e.name} codes`, [O, wordsPerRow(I, s.bits)], true);
      count('weights', `${e.name} scale`, [O, groupsPerRow(I, s.groupSize)]);
      count('weights', `${e.name} offset`, [O, groupsPerRow(I, s.groupSize)]);
    }
  }
  count('weights', 'rope.turns', [c.headDim / 2, 2]);
  count('weights', 'rope.no_k', [1]);
  for (const s of planActivations(c, p.B, p.T, false).slots) count('activations', `act.${s.key}`, s.shape);
  const R = Math.min(p.chunk ?? 64, N);
  const V = c.vocabSize;
  count('logits', 'logits', [R, V]);
  count('logits', 'logits.hidden_rows', [R, c.hiddenSize]);
  count('rows', 'distill.ids', [N, p.topK]);
  count('rows', 'distill.logp', [N, p.topK]);
  count('rows', 'distill.tail', [N]);
  count('rows', 'distill.member', [N, memberWords(V)]);
  count('rows', 'distill.stat', [N, 2]);
  count('rows', 'distill.partials beyond cross-entropy', [R, crossEntropySlices(V), 2]);
  return { total: parts.weights + parts.activations + parts.logits + parts.rows, parts, largest };
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
