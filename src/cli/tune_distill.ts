// `sub4 tune --distill`: the teacher of a distillation run, found and checked
// before any GPU work. `--distill <teacher>` names an unquantized model (a
// float HF folder, an F16/BF16/F32 GGUF, or a Q8_0 GGUF as a stand-in) with the
// student's vocabulary and tokenizer; `--distill self` (or the student's own
// path) with `--bits B` on a float model uses that float model as the teacher,
// with no second file. The held-out figures before and after and the guard
// (held-out KL ending worse than it started) are printed here too.
import { resolve } from 'node:path';
import { UsageError } from './args.ts';
import { openWithTokenizer, type ModelFile } from './model_gpu.ts';
import type { TuneSettings } from './tune_settings.ts';
import { isQuantized } from '../model/linear.ts';
import { GgmlType, ggmlTypeName } from '../quant/formats.ts';
import { checkTeacherMatches, DistillTeacherError } from '../train/distill/teacher.ts';
import { evaluateDistill, type DistillEval } from '../train/distill/eval.ts';
import { LlamaModel } from '../model/llama.ts';
import { loadWeights } from '../model/weights.ts';
import type { Trainable } from '../model/trainable.ts';
import type { GpuModelSession } from './model_gpu.ts';

export interface TeacherFile {
  /** The teacher's file: the student's own (implicit teacher) or a second one. */
  m: ModelFile;
  implicit: boolean;
  close(): Promise<void>;
}

/** Open and check the teacher of `s` (null when the run does not distill). */
export async function openTeacher(s: TuneSettings, student: ModelFile): Promise<TeacherFile | null> {
  const d = s.distill ?? null;
  if (d === null) return null;
  const implicit = d === 'self' || resolve(d) === s.model;
  if (implicit) {
    if (s.bits === null) throw new UsageError(`--distill ${d} uses the student's own float weights as the teacher, so it needs --bits B (the student is then quantized from them); name a teacher file to distill a model that is stored quantized`);
    return { m: student, implicit, close: async () => {} };
  }
  const m = await openWithTokenizer(resolve(d));
  try {
    const quantized = [...m.file.tensors.values()].filter((t) => isQuantized(t) && t.ggmlType !== GgmlType.Q8_0);
    if (quantized.length)
      throw new DistillTeacherError(student.file.name, m.file.name, `it is quantized (${quantized[0].name} is ${quantized[0].ggmlType === null ? 'GPTQ' : ggmlTypeName(quantized[0].ggmlType)}); a teacher must be a float model (F32/F16/BF16) or Q8_0`);
    checkTeacherMatches(student, m);
  } catch (e) {
    await m.file.close();
    throw e;
  }
  return { m, implicit, close: () => m.file.close() };
}

export function printDistillEval(e: DistillEval, when: 'before' | 'after', json: boolean): void {
  if (json) console.log(JSON.stringify({ type: 'distill-eval', when, ...e }));
  else
    console.log(
      `distill ${when}: held-out KL to the teacher ${e.kl.toFixed(4)} nats/token, top-1 agreement ${(100 * e.top1).toFixed(1)} %, perplexity student ${e.pplStudent.toFixed(3)}, teacher ${e.pplTeacher.toFixed(3)} (${e.tokens} tokens)`,
    );
}

/** The guard: a distillation whose held-out KL ended above where it started is not a repair. */
export function klGuard(before: DistillEval | null, after: DistillEval | null): string | null {
  if (!before || !after || after.kl <= before.kl) return null;
  return `held-out KL to the teacher rose from ${before.kl.toFixed(4)} to ${after.kl.toFixed(4)}: the tune made the student worse at imitating its teacher (try a lower --lr or fewer --steps)`;
}

/**
 * `sub4 eval --teacher`: the model of `s` (with its trained state, when one)
 * against a teacher on the perplexity windows (BOS + ctx − 1 tokens each, every
 * next token scored): full KL, top-1 agreement and both perplexities.
 */
export async function scoreAgainstTeacher(s: GpuModelSession, trainable: Trainable | null, teacherPath: string, wins: number[][], json: boolean): Promise<DistillEval | null> {
  const t = await openWithTokenizer(resolve(teacherPath));
  try {
    checkTeacherMatches(s, t);
    const weights = await loadWeights(s.ctx, t.file);
    try {
      const T = wins[0].length - 1;
      const n = wins.length;
      const w = { seqLen: T, count: n, inputs: new Uint32Array(n * T), targets: new Uint32Array(n * T), mask: new Uint32Array(n * T).fill(1) };
      wins.forEach((win, i) => {
        w.inputs.set(win.slice(0, T), i * T);
        w.targets.set(win.slice(1), i * T);
      });
      const e = await evaluateDistill(s.model, trainable, new LlamaModel(s.ctx, weights), w, Math.min(4, n));
      if (e) {
        if (json) console.log(JSON.stringify({ type: 'teacher', teacher: t.file.name, ...e }));
        else console.log(`against teacher ${t.file.name}: KL ${e.kl.toFixed(4)} nats/token, top-1 agreement ${(100 * e.top1).toFixed(1)} %, perplexity ${e.pplStudent.toFixed(4)} (teacher ${e.pplTeacher.toFixed(4)})`);
      }
      return e;
    } finally {
      weights.destroy();
    }
  } finally {
    await t.file.close();
  }
}
