// The teacher of a distillation run in live mode: an unquantized model on the
// same GPU as the student. For each micro-batch it runs its own forward on the
// student's token ids, reads its logits back R rows at a time, and hands the
// student's loss (src/gpu/kernels/distill.ts) its top-K log-probabilities, tail
// mass and id bitmask at the temperature. The top-K is taken on the CPU in f64
// (topk.ts): the same rows a cache of the teacher would hold, so live and
// cached runs see the same numbers. A teacher with another vocabulary or
// tokenizer is refused before anything is loaded (checkTeacherMatches). With
// DWQ's hidden-state term (`hiddenLoss`) it keeps its residual stream per
// layer (activations planned 'inputs') and hands the student's step its four
// quarter points (src/ref/hidden_l1.ts), valid until its next forward.
import { Sub4Error } from '../../base/errors.ts';
import type { LoadedModel } from '../../io/loaded_model.ts';
import type { Tokenizer } from '../../io/tokenizer/types.ts';
import { packTeacherRows, uploadTeacher, destroyTeacher, type Divergence, type DistillTeacher } from '../../gpu/kernels/distill.ts';
import type { Activations, LlamaModel } from '../../model/llama.ts';
import type { HiddenTargets } from '../../model/backward.ts';
import { quarterLayers } from '../../arch/layers.ts';
import type { GpuContext } from '../../gpu/device.ts';
import { isQuantized } from '../../model/linear.ts';
import { GgmlType, ggmlTypeName } from '../../quant/formats.ts';
import { topKRows } from './topk.ts';

/** A teacher that cannot teach this student: names both models and the difference. */
export class DistillTeacherError extends Sub4Error {
  constructor(
    readonly student: string,
    readonly teacher: string,
    problem: string,
  ) {
    super(`teacher ${teacher} cannot distill into student ${student}: ${problem}`);
  }
}

/** The two models must score the same token ids: one vocabulary size, and the same text per id and the same BOS/EOS. */
export function checkTeacherMatches(student: { file: LoadedModel; tokenizer: Tokenizer }, teacher: { file: LoadedModel; tokenizer: Tokenizer }): void {
  const [s, t] = [student.file, teacher.file];
  if (s.config.vocabSize !== t.config.vocabSize)
    throw new DistillTeacherError(s.name, t.name, `its vocabulary has ${t.config.vocabSize} tokens, the student's ${s.config.vocabSize}`);
  const [a, b] = [student.tokenizer, teacher.tokenizer];
  if (a.bosId !== b.bosId || a.eosIds.join() !== b.eosIds.join())
    throw new DistillTeacherError(s.name, t.name, `its tokenizer's BOS/EOS (${b.bosId}/${b.eosIds}) differ from the student's (${a.bosId}/${a.eosIds})`);
  const V = Math.min(a.vocabSize, s.config.vocabSize);
  for (let id = 0; id < V; id++)
    if (a.tokenText(id) !== b.tokenText(id))
      throw new DistillTeacherError(s.name, t.name, `its tokenizer differs at token ${id} (${JSON.stringify(b.tokenText(id))} where the student has ${JSON.stringify(a.tokenText(id))})`);
}

/** DWQ's hidden-state term compares residual streams: both models must have one width. */
export function checkHiddenWidths(student: { file: LoadedModel }, teacher: { file: LoadedModel }): void {
  const [s, t] = [student.file, teacher.file];
  if (s.config.hiddenSize !== t.config.hiddenSize)
    throw new DistillTeacherError(s.name, t.name, `--hidden-loss compares hidden states, and its hidden width is ${t.config.hiddenSize}, the student's ${s.config.hiddenSize}`);
}

/** A teacher is an unquantized model: F32/F16/BF16 weights, or Q8_0 as a stand-in; anything coarser is refused naming a tensor. */
export function checkTeacherIsFloat(student: string, teacher: LoadedModel): void {
  const q = [...teacher.tensors.values()].find((t) => isQuantized(t) && t.ggmlType !== GgmlType.Q8_0);
  if (q) throw new DistillTeacherError(student, teacher.name, `it is quantized (${q.name} is ${q.ggmlType === null ? 'GPTQ' : ggmlTypeName(q.ggmlType)}); a teacher must be a float model (F32/F16/BF16) or Q8_0`);
}

export interface DistillOptions {
  /** Teacher tokens kept per position, 1..V (V: the exact KL). */
  topK: number;
  /** Temperature τ > 0 of both distributions. */
  temperature: number;
  /** Teacher logit rows read back at once; default 64. */
  chunk?: number;
  /** The loss's divergence over the top-K buckets (default kl). */
  divergence?: Divergence;
  /** DWQ's hidden-state term's weight W (0 or absent: off; live only). */
  hiddenLoss?: number;
}

/** What ModelBackward.step takes for one micro-batch, and how to free it. */
export interface DistillBatch {
  teacher: DistillTeacher;
  tau: number;
  divergence: Divergence;
  /** The teacher's quarter points for the hidden-state term (live teacher with hiddenLoss only). */
  hidden?: HiddenTargets;
  release(): void;
}

/** The Trainer's view of a teacher (TrainerOptions.distill). */
export interface DistillSource {
  /**
   * The teacher rows of one micro-batch; `counts(n)`: row n's loss counts (the label loss's rows);
   * `windows`: the train windows (indices into the run's train Windows) the B rows of `ids` were taken from.
   */
  prepare(ids: Uint32Array, counts: (n: number) => boolean, windows?: readonly number[]): Promise<DistillBatch>;
}

/** A teacher's top-K rows of B·T tokens at the run's temperature (as topKRows gives them). */
export interface TeacherTargets {
  K: number;
  /** [B·T·K] ids, largest first. */
  ids: Uint32Array;
  /** [B·T·K] log-probabilities at the temperature. */
  logp: Float32Array;
  /** [B·T] mass outside the top-K. */
  tail: ArrayLike<number>;
}

/**
 * Where the teacher's targets come from: a live model (LiveTeacher) or a cache
 * of them (cache.ts CachedTeacher). `targets` takes the micro-batch's train
 * window indices (what a cache is keyed by) and their token ids (what a live
 * teacher runs on); either source answers the same rows, so the loss kernels
 * never know which one ran.
 */
export interface TeacherSource {
  readonly K: number;
  readonly temperature: number;
  targets(windows: readonly number[], ids: Uint32Array): Promise<TeacherTargets>;
}

/** A micro-batch's targets on the GPU, as ModelBackward.step takes them. */
export function teacherBatch(ctx: GpuContext, V: number, t: TeacherTargets, tau: number, counts: (n: number) => boolean, divergence: Divergence = 'kl'): DistillBatch {
  const N = t.tail.length;
  const teacher = uploadTeacher(ctx, packTeacherRows(t.ids, t.logp, t.tail, counts, N, t.K, V), N, V);
  return { teacher, tau, divergence, release: () => destroyTeacher(teacher) };
}

/** A live teacher: borrows its model (the caller frees the weights); destroy() frees the activations. */
export class LiveTeacher implements DistillSource, TeacherSource {
  private acts: Activations | null = null;

  constructor(
    readonly model: LlamaModel,
    readonly B: number,
    readonly T: number,
    readonly opts: DistillOptions,
  ) {
    const V = model.config.vocabSize;
    if (!Number.isInteger(opts.topK) || opts.topK < 1 || opts.topK > V) throw new RangeError(`distill: --topk ${opts.topK} must be in 1..${V} (the vocabulary)`);
    if (!(opts.temperature > 0) || !Number.isFinite(opts.temperature)) throw new RangeError(`distill: --temperature ${opts.temperature} must be a positive number`);
    const W = opts.hiddenLoss ?? 0;
    if (!(W >= 0) || !Number.isFinite(W)) throw new RangeError(`distill: --hidden-loss ${W} must be a finite number ≥ 0`);
  }

  /** Teacher top-K rows of ids [B·T] on the CPU (also the held-out evaluation's and a cache's source). */
  async topK(ids: Uint32Array) {
    const N = this.B * this.T;
    const V = this.model.config.vocabSize;
    this.acts ??= this.model.activations(this.B, this.T, this.opts.hiddenLoss ? 'inputs' : false);
    this.model.forward(this.acts, ids);
    const R = Math.min(this.opts.chunk ?? 64, N);
    const topIds = new Uint32Array(N * this.opts.topK);
    const logp = new Float32Array(N * this.opts.topK);
    const tail = new Float64Array(N);
    for (let row0 = 0; row0 < N; row0 += R) {
      const rows = Math.min(R, N - row0);
      const z = this.model.logits(this.acts, row0, rows);
      let zs: Float32Array;
      try {
        zs = await z.read();
      } finally {
        z.destroy();
      }
      const t = topKRows(zs, rows, V, this.opts.topK, this.opts.temperature);
      topIds.set(t.ids, row0 * t.K);
      logp.set(t.logp, row0 * t.K);
      tail.set(t.tail, row0);
    }
    return { ids: topIds, logp, tail };
  }

  get K(): number {
    return this.opts.topK;
  }

  get temperature(): number {
    return this.opts.temperature;
  }

  async targets(_windows: readonly number[], ids: Uint32Array): Promise<TeacherTargets> {
    return { K: this.opts.topK, ...(await this.topK(ids)) };
  }

  async prepare(ids: Uint32Array, counts: (n: number) => boolean): Promise<DistillBatch> {
    const batch = teacherBatch(this.model.ctx, this.model.config.vocabSize, await this.targets([], ids), this.opts.temperature, counts, this.opts.divergence);
    const W = this.opts.hiddenLoss ?? 0;
    if (W > 0 && this.acts) {
      const L = this.model.config.numLayers;
      const acts = this.acts;
      batch.hidden = { weight: W, states: quarterLayers(L).map((l) => acts.residual(l, L)) };
    }
    return batch;
  }

  destroy(): void {
    this.acts?.destroy();
    this.acts = null;
  }
}
