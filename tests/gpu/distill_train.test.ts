// Live distillation in the engine on stories260K: the student in Q4_0 and its
// teacher (the F32 GGUF, checked to share the tokenizer). A training step's
// distillation loss equals the f64 reference from the two models' logits read
// back; a student distilled from its own weights has loss 0; a short PEQA run
// lowers the held-out KL to the teacher and raises top-1 agreement; a teacher
// with another vocabulary is refused naming both models.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { fixture } from '../helpers/fixtures.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { ModelBackward } from '../../src/model/backward.ts';
import { createTrainable, type TrainConfig } from '../../src/model/trainable.ts';
import { buildDataset } from '../../src/train/data/index.ts';
import { Trainer } from '../../src/train/trainer.ts';
import { checkTeacherMatches, DistillTeacherError, LiveTeacher } from '../../src/train/distill/teacher.ts';
import { evaluateDistill } from '../../src/train/distill/eval.ts';
import { distillForwardRef } from '../../src/ref/distill.ts';
import { normRelError } from '../../src/gpu/compare.ts';

const PEQA: TrainConfig = { method: 'peqa', peqaTargets: ['q', 'k', 'v', 'o', 'gate', 'up'] };
const studentPath = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');
const teacherPath = fixture('models/stories260K.gguf');
const dataPath = fixture('data/tinyshakespeare/input.txt');

async function setup() {
  const ctx = await gpu();
  const s = await openModelPath(studentPath!);
  const t = await openModelPath(teacherPath!);
  checkTeacherMatches({ file: s, tokenizer: s.tokenizer! }, { file: t, tokenizer: t.tokenizer! });
  const text = readFileSync(dataPath!, 'utf8');
  const ds = buildDataset(text.slice(0, 12000), 'input.txt', s.tokenizer!, { seqLen: 32, evalFraction: 0, seed: 3 });
  const held = buildDataset(text.slice(-6000), 'held.txt', s.tokenizer!, { seqLen: 32, evalFraction: 0, seed: 3 }).train;
  const sw = await loadWeights(ctx, s);
  const tw = await loadWeights(ctx, t);
  const student = new LlamaModel(ctx, sw);
  const teacher = new LlamaModel(ctx, tw);
  return { ctx, s, t, ds, held, student, teacher, free: () => [sw, tw].forEach((w) => w.destroy()) };
}

describe.skipIf(!studentPath || !teacherPath || !dataPath)('live distillation on stories260K (Q4_0 student, F32 teacher)', () => {
  it('a step’s loss equals the f64 reference from both models’ logits; the student as its own teacher scores 0', async () => {
    const { s, ds, student, teacher, free } = await setup();
    const [B, T, K, tau] = [2, 32, 64, 2];
    const V = s.config.vocabSize;
    const tr = await createTrainable(student, s, PEQA);
    const bw = new ModelBackward(student, tr, B, T, { chunk: 24 });
    const acts = student.activations(B, T, true);
    const live = new LiveTeacher(teacher, B, T, { topK: K, temperature: tau, chunk: 20 });
    const self = new LiveTeacher(student, B, T, { topK: K, temperature: tau });
    try {
      const w = ds.train;
      const ids = w.inputs.slice(0, B * T);
      const targets = w.targets.slice(0, B * T);
      const mask = w.mask.slice(0, B * T).map((m, n) => (n % 7 === 3 ? 0 : m)); // some masked rows
      const counts = (n: number) => mask[n] !== 0 && targets[n] < V;
      const rows = await live.topK(ids);
      const d = await live.prepare(ids, counts);
      const r = bw.step(acts, ids, { targets, mask, distill: d });
      const loss = await r.loss.read();
      d.release();
      const z = student.logits(acts);
      const zs = await z.read();
      z.destroy();
      const ref = distillForwardRef(zs, B * T, V, { K, ids: rows.ids, logp: rows.logp, tail: Array.from(rows.tail, Math.fround) }, Uint32Array.from(mask, (_, n) => (counts(n) ? 1 : 0)), tau);
      const err = normRelError(loss, ref.loss);
      console.log(`step loss vs reference: rel-to-max ${err.toExponential(2)} (mean ${ref.mean.toFixed(4)})`);
      expect(err).toBeLessThanOrEqual(1e-5);
      expect(ref.mean).toBeGreaterThan(1e-3); // Q4_0 differs from F32: a loss that can fail

      const ds2 = await self.prepare(ids, counts);
      const r2 = bw.step(acts, ids, { targets, mask, distill: ds2 });
      const own = await r2.loss.read();
      ds2.release();
      const worst = own.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
      console.log(`student as its own teacher: largest per-token loss ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(1e-5);
    } finally {
      [live, self, bw, tr, acts].forEach((x) => x.destroy());
      free();
    }
  });

  // Q4_0 is already close to its teacher (KL ≈ 0.15): AdamW's fixed-size steps at the label loss's lr 1e-3
  // overshoot there (measured: KL 0.16 → 0.24 in 10 steps; the CLI's guard refuses such a run), 1e-4 does not.
  it('20 PEQA steps distilled lower the held-out KL to the teacher', async () => {
    const { s, ds, held, student, teacher, free } = await setup();
    const tr = await createTrainable(student, s, PEQA);
    const live = new LiveTeacher(teacher, 2, 32, { topK: 64, temperature: 1 });
    const trainer = new Trainer(student, tr, { train: ds.train, eval: held }, { batch: 2, steps: 20, schedule: { kind: 'constant', peak: 1e-4, warmupSteps: 2 }, evalWindows: 4, distill: live });
    try {
      const before = (await evaluateDistill(student, tr, teacher, held, 2, 8))!;
      const sm = await trainer.run();
      const after = (await evaluateDistill(student, tr, teacher, held, 2, 8))!;
      console.log(`held-out KL ${before.kl.toFixed(4)} → ${after.kl.toFixed(4)}, top-1 ${before.top1.toFixed(3)} → ${after.top1.toFixed(3)}, losses ${sm.losses[0].toFixed(4)} → ${sm.losses.at(-1)!.toFixed(4)}`);
      expect(sm.steps).toBe(20);
      expect(after.kl).toBeLessThan(before.kl * 0.97);
      expect(after.top1).toBeGreaterThanOrEqual(before.top1);
      expect(before.pplTeacher).toBe(after.pplTeacher); // the teacher never moves
    } finally {
      [trainer, live, tr].forEach((x) => x.destroy());
      free();
    }
  });

  it('refuses a teacher with another vocabulary or tokenizer, naming both', async () => {
    const s = await openModelPath(studentPath!);
    const t = await openModelPath(teacherPath!);
    const student = { file: s, tokenizer: s.tokenizer! };
    const bigger = { file: { ...t, name: 'bigger.gguf', config: { ...t.config, vocabSize: 1000 } }, tokenizer: t.tokenizer! };
    expect(() => checkTeacherMatches(student, bigger)).toThrow(DistillTeacherError);
    expect(() => checkTeacherMatches(student, bigger)).toThrow(new RegExp(`teacher bigger\\.gguf cannot distill into student ${s.name}: its vocabulary has 1000 tokens, the student's 512`));
    const tok = t.tokenizer!;
    const renamed = { file: { ...t, name: 'renamed.gguf' }, tokenizer: { ...tok, bosId: tok.bosId, eosIds: tok.eosIds, tokenText: (id: number) => (id === 300 ? 'xyz' : tok.tokenText(id)) } };
    expect(() => checkTeacherMatches(student, renamed)).toThrow(/teacher renamed\.gguf .*differs at token 300/);
  });
});
