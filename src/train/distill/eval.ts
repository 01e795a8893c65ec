// Held-out figures of a distillation, before and after: the full KL(teacher ‖
// student) at temperature 1 (every token of the vocabulary, not the training
// loss's top-K), top-1 agreement (the student's most likely next token is the
// teacher's), and both models' perplexity on the windows' targets. Scored on
// the CPU in f64 from logits read back R rows at a time; the rows that count
// are the label loss's (mask ≠ 0, target inside the vocabulary).
// Cached mode has no teacher on the GPU beside the student, so the teacher's
// side is taken once before the student loads (teacherHeldOut: per counted row
// its top-K log-probabilities at τ = 1 and tail mass, argmax and target NLL;
// K = V, the exact KL, whenever those rows fit HELD_OUT_BYTES, else the run's
// K: then the KL is over the top-K plus the tail bucket, a lower bound) and
// the student is scored against it (evaluateHeldOut).
import type { Activations, LlamaModel } from '../../model/llama.ts';
import type { Trainable } from '../../model/trainable.ts';
import type { Windows } from '../data/pack.ts';
import { topKRows } from './topk.ts';

type EvalWindows = Pick<Windows, 'seqLen' | 'count' | 'inputs' | 'targets' | 'mask'>;

export interface DistillEval {
  /** Mean KL(teacher ‖ student) per counted token, nats. */
  kl: number;
  /** Fraction of counted tokens where both models' argmax agree. */
  top1: number;
  pplStudent: number;
  pplTeacher: number;
  tokens: number;
}

/** The guard: a distillation whose held-out KL ended above where it started is not a repair (null: it is). */
export function heldOutKlGuard(before: DistillEval | null, after: DistillEval | null, advice: string): string | null {
  if (!before || !after || after.kl <= before.kl) return null;
  return `held-out KL to the teacher rose from ${before.kl.toFixed(4)} to ${after.kl.toFixed(4)}: the tune made the student worse at imitating its teacher (${advice})`;
}

function logSoftmaxRow(z: Float32Array, off: number, V: number, out: Float64Array): number {
  let m = -Infinity;
  let arg = 0;
  for (let v = 0; v < V; v++)
    if (z[off + v] > m) {
      m = z[off + v];
      arg = v;
    }
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(z[off + v] - m);
  const lse = m + Math.log(s);
  for (let v = 0; v < V; v++) out[v] = z[off + v] - lse;
  return arg;
}

async function logitsOf(model: LlamaModel, acts: Activations, row0: number, rows: number): Promise<Float32Array> {
  const z = model.logits(acts, row0, rows);
  try {
    return await z.read();
  } finally {
    z.destroy();
  }
}

/**
 * Run each model (with its LoRA, if any) over the first n windows, B at a time,
 * and hand `visit` every counted row: the models' logits, the row's offset in
 * them, its target and its ordinal among the counted rows.
 */
async function countedRows(models: { model: LlamaModel; lora?: Trainable['lora'] }[], w: EvalWindows, B: number, n: number, chunk: number, visit: (z: Float32Array[], off: number, target: number, index: number) => void): Promise<number> {
  const T = w.seqLen;
  const V = models[0].model.config.vocabSize;
  const acts = models.map((m) => m.model.activations(B, T, false));
  let index = 0;
  try {
    for (let w0 = 0; w0 < n; w0 += B) {
      const ids = new Uint32Array(B * T);
      const targets = new Uint32Array(B * T).fill(0xffffffff);
      const mask = new Uint32Array(B * T);
      for (let b = 0; b < B && w0 + b < n; b++) {
        const i = w0 + b;
        ids.set(w.inputs.subarray(i * T, i * T + T), b * T);
        targets.set(w.targets.subarray(i * T, i * T + T), b * T);
        mask.set(w.mask.subarray(i * T, i * T + T), b * T);
      }
      models.forEach((m, j) => m.model.forward(acts[j], ids, { lora: m.lora }));
      const N = B * T;
      for (let row0 = 0; row0 < N; row0 += chunk) {
        const rows = Math.min(chunk, N - row0);
        const z: Float32Array[] = [];
        for (let j = 0; j < models.length; j++) z.push(await logitsOf(models[j].model, acts[j], row0, rows));
        for (let r = 0; r < rows; r++) {
          const k = row0 + r;
          if (mask[k] === 0 || targets[k] >= V) continue;
          visit(z, r * V, targets[k], index++);
        }
      }
    }
  } finally {
    acts.forEach((a) => a.destroy());
  }
  return index;
}

/**
 * Score the first `maxWindows` held-out windows, B at a time. `student`'s
 * trainable (PEQA θ / LoRA) is applied first when given; the teacher runs as loaded.
 */
export async function evaluateDistill(student: LlamaModel, trainable: Trainable | null, teacher: LlamaModel, w: EvalWindows, B: number, maxWindows = w.count, chunk = 64): Promise<DistillEval | null> {
  const n = Math.min(w.count, maxWindows);
  if (n === 0) return null;
  const V = student.config.vocabSize;
  if (teacher.config.vocabSize !== V) throw new RangeError(`evaluateDistill: teacher vocabulary ${teacher.config.vocabSize}, student ${V}`);
  trainable?.apply();
  const ls = new Float64Array(V);
  const lt = new Float64Array(V);
  let [kl, agree, nllS, nllT] = [0, 0, 0, 0];
  const tokens = await countedRows([{ model: student, lora: trainable?.lora }, { model: teacher }], w, B, n, chunk, ([zs, zt], off, target) => {
    const as = logSoftmaxRow(zs, off, V, ls);
    const at = logSoftmaxRow(zt, off, V, lt);
    let d = 0;
    for (let v = 0; v < V; v++) d += Math.exp(lt[v]) * (lt[v] - ls[v]);
    kl += d;
    if (as === at) agree++;
    nllS -= ls[target];
    nllT -= lt[target];
  });
  if (tokens === 0) return null;
  return { kl: kl / tokens, top1: agree / tokens, pplStudent: Math.exp(nllS / tokens), pplTeacher: Math.exp(nllT / tokens), tokens };
}

/** Bytes the held-out teacher rows may take before K = V gives way to the run's K. */
export const HELD_OUT_BYTES = 256 * 2 ** 20;

/** The teacher's side of the held-out windows, taken once (cached mode). */
export interface TeacherHeldOut {
  /** Windows scored (the first `windows` of the held-out set). */
  windows: number;
  V: number;
  K: number;
  /** Per counted row: top-K ids and log-probabilities at τ = 1 [rows·K], tail mass, argmax and −log p(target). */
  ids: Uint32Array;
  logp: Float32Array;
  tail: Float64Array;
  argmax: Uint32Array;
  nll: Float64Array;
}

/** The teacher's held-out rows (see the header); `topK` is the run's K, used only when K = V would not fit. */
export async function teacherHeldOut(teacher: LlamaModel, w: EvalWindows, B: number, maxWindows: number, topK: number, chunk = 64): Promise<TeacherHeldOut | null> {
  const n = Math.min(w.count, maxWindows);
  if (n === 0) return null;
  const V = teacher.config.vocabSize;
  const rows = n * w.seqLen; // an upper bound of the counted rows
  const K = rows * V * 8 <= HELD_OUT_BYTES ? V : Math.min(topK, V);
  const h: TeacherHeldOut = { windows: n, V, K, ids: new Uint32Array(rows * K), logp: new Float32Array(rows * K), tail: new Float64Array(rows), argmax: new Uint32Array(rows), nll: new Float64Array(rows) };
  const lt = new Float64Array(V);
  const count = await countedRows([{ model: teacher }], w, B, n, chunk, ([zt], off, target, i) => {
    const row = zt.subarray(off, off + V);
    const t = topKRows(row, 1, V, K, 1);
    h.ids.set(t.ids, i * K);
    h.logp.set(t.logp, i * K);
    h.tail[i] = t.tail[0];
    h.argmax[i] = logSoftmaxRow(row, 0, V, lt);
    h.nll[i] = -lt[target];
  });
  if (count === 0) return null;
  return { ...h, ids: h.ids.slice(0, count * K), logp: h.logp.slice(0, count * K), tail: h.tail.slice(0, count), argmax: h.argmax.slice(0, count), nll: h.nll.slice(0, count) };
}

/** The held-out figures of `student` against the teacher's rows from teacherHeldOut (same windows, same order). */
export async function evaluateHeldOut(student: LlamaModel, trainable: Trainable | null, held: TeacherHeldOut, w: EvalWindows, B: number, chunk = 64): Promise<DistillEval | null> {
  const V = student.config.vocabSize;
  if (held.V !== V) throw new RangeError(`evaluateHeldOut: the teacher's rows are over ${held.V} tokens, the student's vocabulary ${V}`);
  trainable?.apply();
  const { K } = held;
  const ls = new Float64Array(V);
  const inTop = new Uint8Array(V);
  let [kl, agree, nllS, nllT] = [0, 0, 0, 0];
  const tokens = await countedRows([{ model: student, lora: trainable?.lora }], w, B, held.windows, chunk, ([zs], off, target, i) => {
    if (i >= held.tail.length) throw new RangeError('evaluateHeldOut: the held-out windows count more rows than the teacher scored (other windows?)');
    const as = logSoftmaxRow(zs, off, V, ls);
    let d = 0;
    inTop.fill(0);
    for (let k = 0; k < K; k++) {
      const id = held.ids[i * K + k];
      const lp = held.logp[i * K + k];
      inTop[id] = 1;
      d += Math.exp(lp) * (lp - ls[id]);
    }
    const pt = held.tail[i];
    if (K < V && pt > 0) {
      let qt = 0;
      for (let v = 0; v < V; v++) if (!inTop[v]) qt += Math.exp(ls[v]);
      d += pt * (Math.log(pt) - Math.log(qt));
    }
    kl += d;
    if (as === held.argmax[i]) agree++;
    nllS -= ls[target];
    nllT += held.nll[i];
  });
  if (tokens !== held.tail.length) throw new RangeError(`evaluateHeldOut: ${tokens} counted rows, the teacher scored ${held.tail.length} (other windows?)`);
  if (tokens === 0) return null;
  return { kl: kl / tokens, top1: agree / tokens, pplStudent: Math.exp(nllS / tokens), pplTeacher: Math.exp(nllT / tokens), tokens };
}
