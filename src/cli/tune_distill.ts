// `sub4 tune --distill`: the teacher of a distillation run, found and checked
// before any GPU work. `--distill <teacher>` names an unquantized model (a
// float HF folder, an F16/BF16/F32 GGUF, or a Q8_0 GGUF as a stand-in) with the
// student's vocabulary and tokenizer; `--distill self` (or the student's own
// path) with `--bits B` on a float model uses that float model as the teacher,
// with no second file. The held-out figures before and after and the guard
// (held-out KL ending worse than it started) are printed here too.
import { join, resolve } from 'node:path';
import { UsageError } from './args.ts';
import { openWithTokenizer, type ModelFile } from './model_gpu.ts';
import type { TuneSettings } from './tune_settings.ts';
import { checkHiddenWidths, checkTeacherIsFloat, checkTeacherMatches } from '../train/distill/teacher.ts';
import { evaluateDistill, heldOutKlGuard, teacherHeldOut, type DistillEval, type TeacherHeldOut } from '../train/distill/eval.ts';
import { LlamaModel } from '../model/llama.ts';
import { loadWeights } from '../model/weights.ts';
import type { Trainable } from '../model/trainable.ts';
import type { GpuModelSession } from './model_gpu.ts';
import type { GpuContext } from '../gpu/device.ts';
import { checkPlanFits, storageOf, type DeviceLimits, type StepPlan } from '../model/planner.ts';
import { chooseTeacherMode, planTeacher, type TeacherMode } from '../model/planner_distill.ts';
import { modelIdentity } from '../train/checkpoint/identity.ts';
import type { Windows } from '../train/data/pack.ts';
import { cacheBytes, defaultCacheValues, ensureTeacherCache, fmtBytes, storedTemperature, windowsIdentity, type CacheSpec, type TeacherCacheReader } from '../train/distill/cache.ts';
import { folderCacheStore } from '../train/distill/cache_store.node.ts';
import { LiveTeacher } from '../train/distill/teacher.ts';

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
    checkTeacherIsFloat(student.file.name, m.file);
    checkTeacherMatches(student, m);
    if ((s.hiddenLoss ?? 0) > 0) checkHiddenWidths(student, m);
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

/** The guard (heldOutKlGuard) with the CLI's advice. */
export const klGuard = (before: DistillEval | null, after: DistillEval | null): string | null => heldOutKlGuard(before, after, 'try a lower --lr or fewer --steps');

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

export interface TeacherModeFlags {
  mode: TeacherMode | 'auto';
  /** Where the cache goes (--cache-dir, default --out/teacher-cache). */
  cacheDir: string;
}

/** `--teacher-mode live|cached|auto` (default auto) and `--cache-dir D` (default inside --out). */
export function teacherModeFlags(values: Record<string, unknown>, out: string, distilling: boolean): TeacherModeFlags {
  const m = values['teacher-mode'] ?? 'auto';
  if (m !== 'live' && m !== 'cached' && m !== 'auto') throw new UsageError(`--teacher-mode ${String(m)}: use live, cached or auto`);
  const d = values['cache-dir'];
  if (d !== undefined && typeof d !== 'string') throw new UsageError('--cache-dir needs a folder');
  if ((values['teacher-mode'] !== undefined || d !== undefined) && !distilling) throw new UsageError('--teacher-mode and --cache-dir belong to --distill');
  return { mode: m, cacheDir: resolve(d ?? join(out, 'teacher-cache')) };
}

/** The run's plan with its teacher, live or cached as chosen (printed by the caller). */
export function planDistillRun(student: StepPlan, tf: TeacherFile | null, p: { B: number; T: number; topK: number; mode: TeacherMode | 'auto'; limits: DeviceLimits; hidden: boolean }): { plan: StepPlan; mode: TeacherMode | null; why: string | null; teacherBytes: number } {
  if (!tf) return { plan: checkPlanFits(student, p.limits), mode: null, why: null, teacherBytes: 0 };
  const input = { config: tf.m.file.config, storage: storageOf(tf.m.file), B: p.B, T: p.T, topK: p.topK, hidden: p.hidden };
  // The hidden-state term needs the teacher live: never chosen cached for it (a live teacher that does not fit is refused with its bytes).
  const c = chooseTeacherMode({ mode: p.hidden ? 'live' : p.mode, student, live: planTeacher(input), cached: planTeacher({ ...input, cached: true }), limits: p.limits, available: null });
  return { plan: c.plan, mode: c.mode, why: c.why, teacherBytes: c.plan.teacher.total };
}

/**
 * Cached mode's one pass of the teacher alone over the train windows (before
 * the student is loaded): the cache in `dir` reused when it matches this
 * teacher, data, K and temperature, else rebuilt; its size printed first.
 * Then the teacher's side of the held-out figures (the first `evalWindows` of
 * `heldOut`), so that cached runs score and guard as live ones do.
 */
export async function prepareTeacherCache(ctx: GpuContext, tf: TeacherFile, train: Windows, heldOut: Windows, o: { B: number; topK: number; temperature: number; dir: string; evalWindows: number }, log: (line: string) => void): Promise<{ reader: TeacherCacheReader; heldOut: TeacherHeldOut | null }> {
  const V = tf.m.file.config.vocabSize;
  const tau = storedTemperature(o.topK, V, Math.fround(o.temperature));
  const values = defaultCacheValues(o.topK, V);
  const spec: CacheSpec = { teacher: (await modelIdentity(tf.m.file)).sha256, data: await windowsIdentity(train), K: o.topK, V, T: train.seqLen, count: train.count, tau, values };
  log(`teacher cache: ${train.count} windows × ${train.seqLen} tokens × top-${o.topK} (${values} log-probs, u32 ids, f32 tail) = ${fmtBytes(cacheBytes(train.count, train.seqLen, o.topK, values))} in ${o.dir}`);
  const store = folderCacheStore(o.dir);
  let weights: Awaited<ReturnType<typeof loadWeights>> | undefined;
  let maker: LiveTeacher | undefined;
  const model = async () => new LlamaModel(ctx, (weights ??= await loadWeights(ctx, tf.m.file)));
  const rowsOf = async (wins: readonly number[], ids: Uint32Array) => {
    maker ??= new LiveTeacher(await model(), o.B, train.seqLen, { topK: o.topK, temperature: tau });
    return maker.targets(wins, ids);
  };
  try {
    const reader = (await ensureTeacherCache(store, spec, train, rowsOf, o.B, log)).reader;
    maker?.destroy();
    maker = undefined;
    const held = await teacherHeldOut(await model(), heldOut, o.B, o.evalWindows, o.topK);
    if (held) log(`teacher held-out side: ${held.tail.length} tokens of ${held.windows} windows scored once (${held.K === V ? 'the whole vocabulary: the exact KL' : `top-${held.K} + tail: the KL is a lower bound`}), for the held-out KL and its guard`);
    return { reader, heldOut: held };
  } finally {
    maker?.destroy();
    weights?.destroy();
  }
}
