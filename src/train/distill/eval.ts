// Held-out figures of a distillation, before and after: the full KL(teacher ‖
// student) at temperature 1 (every token of the vocabulary, not the training
// loss's top-K), top-1 agreement (the student's most likely next token is the
// teacher's), and both models' perplexity on the windows' targets. Scored on
// the CPU in f64 from logits read back R rows at a time; the rows that count
// are the label loss's (mask ≠ 0, target inside the vocabulary).
import type { Activations, LlamaModel } from '../../model/llama.ts';
import type { Trainable } from '../../model/trainable.ts';
import type { Windows } from '../data/pack.ts';

export interface DistillEval {
  /** Mean KL(teacher ‖ student) per counted token, nats. */
  kl: number;
  /** Fraction of counted tokens where both models' argmax agree. */
  top1: number;
  pplStudent: number;
  pplTeacher: number;
  tokens: number;
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
 * Score the first `maxWindows` held-out windows, B at a time. `student`'s
 * trainable (PEQA θ / LoRA) is applied first when given; the teacher runs as loaded.
 */
export async function evaluateDistill(student: LlamaModel, trainable: Trainable | null, teacher: LlamaModel, w: Pick<Windows, 'seqLen' | 'count' | 'inputs' | 'targets' | 'mask'>, B: number, maxWindows = w.count, chunk = 64): Promise<DistillEval | null> {
  const n = Math.min(w.count, maxWindows);
  if (n === 0) return null;
  const T = w.seqLen;
  const V = student.config.vocabSize;
  if (teacher.config.vocabSize !== V) throw new RangeError(`evaluateDistill: teacher vocabulary ${teacher.config.vocabSize}, student ${V}`);
  trainable?.apply();
  const lora = trainable?.lora;
  const sActs = student.activations(B, T, false);
  const tActs = teacher.activations(B, T, false);
  const ls = new Float64Array(V);
  const lt = new Float64Array(V);
  let [kl, agree, nllS, nllT, tokens] = [0, 0, 0, 0, 0];
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
      student.forward(sActs, ids, { lora });
      teacher.forward(tActs, ids);
      const N = B * T;
      for (let row0 = 0; row0 < N; row0 += chunk) {
        const rows = Math.min(chunk, N - row0);
        const zs = await logitsOf(student, sActs, row0, rows);
        const zt = await logitsOf(teacher, tActs, row0, rows);
        for (let r = 0; r < rows; r++) {
          const k = row0 + r;
          if (mask[k] === 0 || targets[k] >= V) continue;
          const as = logSoftmaxRow(zs, r * V, V, ls);
          const at = logSoftmaxRow(zt, r * V, V, lt);
          let d = 0;
          for (let v = 0; v < V; v++) d += Math.exp(lt[v]) * (lt[v] - ls[v]);
          kl += d;
          if (as === at) agree++;
          nllS -= ls[targets[k]];
          nllT -= lt[targets[k]];
          tokens++;
        }
      }
    }
  } finally {
    sActs.destroy();
    tActs.destroy();
  }
  if (tokens === 0) return null;
  return { kl: kl / tokens, top1: agree / tokens, pplStudent: Math.exp(nllS / tokens), pplTeacher: Math.exp(nllT / tokens), tokens };
}
