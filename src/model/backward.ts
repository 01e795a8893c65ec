// The training step of the whole model on the GPU: θ → scales, forward with
// saved activations (and LoRA), masked next-token cross-entropy (or the
// distillation loss against a teacher's top-K) through the frozen LM head R
// rows at a time, then the backward in reverse:
//   dhidden → final RMSNorm → per layer (last first):
//     [MLP output norm] → down → SwiGLU / GeGLU → gate + up → MLP input RMSNorm (+ residual)
//     → [attention output norm] → o_proj → attention → RoPE⁻¹ → [q/k norms] → q + k + v
//     → input RMSNorm (+ residual)
// into the trainable gradients only (src/model/trainable.ts): PEQA dθ, LoRA
// dA/dB, optionally norm weights. The residual gradient lives in one buffer
// (dres) that each RMSNorm backward adds into, so the skip connections cost no
// copies. The gradient at the embeddings is dropped: they are frozen.
// Activation recomputation: with activations planned as 'inputs' (only each
// layer's input saved), layer l's forward is re-run (up to the SwiGLU product)
// right before its backward, into buffers shared by all layers. The last layer
// is not re-run: its activations are still in those buffers after the forward.
// One submit per layer, as in the forward.
// DWQ's hidden-state term (StepOptions.distill.hidden, src/ref/hidden_l1.ts):
// after the head's loss, each quarter point's L1 to the teacher's residual
// stream joins the per-token loss, and its gradient is added into dres right
// before the backward of the layer whose output that point is (dres holds
// dL/d(that output) there), so it flows on through the layers below.
// `observe` (StepOptions) hears every layer linear's backward inputs (dY and
// its forward input X, recorded into the layer's encoder): the empirical
// Fisher of the weights (src/train/fisher.ts) squares per-example dYᵀ·X there.
import { GpuTensor } from '../gpu/buffers.ts';
import { attentionBackward } from '../gpu/kernels/attention.ts';
import { crossEntropyChunked, type LmHead } from '../gpu/kernels/cross_entropy.ts';
import { distillChunked, type Divergence, type DistillTeacher } from '../gpu/kernels/distill.ts';
import { hiddenL1Backward, hiddenL1Forward, type CountedRows } from '../gpu/kernels/hidden_l1.ts';
import { layerWindow, quarterLayers } from '../arch/layers.ts';
import { rmsnormBackward } from '../gpu/kernels/rmsnorm.ts';
import { ropeBackward } from '../gpu/kernels/rope.ts';
import { swigluBackward } from '../gpu/kernels/swiglu.ts';
import { gradSpec, type GradName } from './grad_spec.ts';
import { gegluBackward } from '../gpu/kernels/geglu.ts';
import { linearBackward } from './linear_backward.ts';
import type { Activations, LlamaModel } from './llama.ts';
import { Recorder } from './recorder.ts';
import type { ActName } from './spec.ts';
import type { Trainable } from './trainable.ts';
import type { LinearRole } from '../arch/params.ts';

/**
 * Hears a layer linear's backward: dY [B·T, O] (the gradient at its output) and
 * X [B·T, I] (its forward input), recorded into `rec` before the layer's own
 * backward (valid only within that encoder: the buffers are reused).
 */
export type LinearGradObserver = (rec: Recorder, layer: number, role: LinearRole, dy: GpuTensor<'f32'>, x: GpuTensor<'f32'>) => void;
import { viewAs } from './view.ts';

export interface ModelBackwardOptions {
  /** Token rows per cross-entropy chunk (R × V logits resident at once); default 64. */
  chunk?: number;
}

export interface StepOptions {
  /** Next-token targets [B·T]; ≥ V (e.g. 0xffffffff) for rows that do not count. */
  targets: ArrayLike<number>;
  /** Loss mask [B·T] (0 = row does not count); default all 1. */
  mask?: ArrayLike<number>;
  /** 1 / counted tokens of the whole optimizer step; default 1 / this batch's counted tokens. */
  gradScale?: number;
  /** Add into the gradients (micro-batches after the first) instead of overwriting them. */
  accumulate?: boolean;
  positions?: ArrayLike<number>;
  /**
   * Distillation: the loss is KL(teacher ‖ student) over the teacher's top-K
   * (src/gpu/kernels/distill.ts) instead of the label loss; the rows that count
   * are the same (the teacher's tail is −1 elsewhere). `divergence`: skl or
   * jsd over the same buckets instead (default kl).
   */
  distill?: { teacher: DistillTeacher; tau: number; divergence?: Divergence; hidden?: HiddenTargets };
  /** Hears each layer linear's dY and X during the backward (see LinearGradObserver). */
  observe?: LinearGradObserver;
}

/** DWQ's hidden-state term: W and the teacher's residual stream [B·T, C] at the four quarter points (quarterLayers). */
export interface HiddenTargets {
  weight: number;
  states: readonly GpuTensor<'f32'>[];
}

export interface StepResult {
  /** Per-token loss [B·T] (0 on rows that do not count); a workspace buffer, valid until the next step. */
  loss: GpuTensor<'f32'>;
  /** Rows that counted. */
  count: number;
}

/** The backward workspace of one (B, T) and the step that uses it. Borrows model and trainable. */
export class ModelBackward {
  private readonly ws = new Map<GradName, GpuTensor>();
  readonly chunk: number;

  constructor(
    readonly model: LlamaModel,
    readonly trainable: Trainable,
    readonly B: number,
    readonly T: number,
    opts: ModelBackwardOptions = {},
  ) {
    this.chunk = opts.chunk ?? 64;
    if (!Number.isInteger(this.chunk) || this.chunk < 1) throw new RangeError(`ModelBackward: chunk ${this.chunk} is not a positive integer`);
    try {
      for (const e of gradSpec(model.config, B, T, trainable.normGrads !== null)) this.ws.set(e.name, GpuTensor.empty(model.ctx, e.shape, e.dtype, `grad.${e.name}`));
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  private g(name: GradName): GpuTensor<'f32'> {
    return this.ws.get(name) as GpuTensor<'f32'>;
  }

  /**
   * One forward + backward on ids [B·T] with activations planned with save =
   * true or 'inputs' (recomputation). Gradients land in the trainable's
   * buffers (overwritten, or added with `accumulate`). Submits everything.
   */
  step(acts: Activations, ids: ArrayLike<number>, o: StepOptions): StepResult {
    const { model, trainable } = this;
    const c = model.config;
    const N = this.B * this.T;
    if (acts.B !== this.B || acts.T !== this.T) throw new RangeError(`ModelBackward.step: activations for ${acts.B}×${acts.T}, workspace for ${this.B}×${this.T}`);
    if (acts.plan.save === false) throw new RangeError('ModelBackward.step: the activations keep nothing for a backward (plan them with save = true or "inputs")');
    const mask = o.mask ?? new Uint32Array(N).fill(1);
    if (o.targets.length !== N || mask.length !== N) throw new RangeError(`ModelBackward.step: ${o.targets.length} targets and ${mask.length} mask values for ${N} tokens`);
    let count = 0;
    const counts = (t: number, m: number) => m !== 0 && Number.isInteger(t) && t >= 0 && t < c.vocabSize; // as cross_entropy.wgsl
    for (let i = 0; i < N; i++) if (counts(o.targets[i], mask[i])) count++;
    const gradScale = o.gradScale ?? 1 / count;
    if (!Number.isFinite(gradScale)) throw new RangeError('ModelBackward.step: no token of the batch counts (mask 0 or target outside the vocabulary everywhere)');
    (this.ws.get('targets') as GpuTensor<'u32'>).write(Uint32Array.from(o.targets, (t) => (Number.isInteger(t) && t >= 0 && t <= 0xffffffff ? t : 0xffffffff)));
    (this.ws.get('mask') as GpuTensor<'u32'>).write(Uint32Array.from(mask));

    trainable.apply();
    const lora = trainable.lora;
    model.forward(acts, ids, { positions: o.positions, lora });
    const ctx = model.ctx;
    const lin = model.weights.lmHead;
    const head: LmHead = { ...model.lmHead(), backward: (enc, dh, dz, h) => linearBackward(ctx, enc, lin, { dy: dz, x: h, dx: dh }) };
    if (o.distill) distillChunked(ctx, acts.get('hidden'), head, o.distill.teacher, this.chunk, { tau: o.distill.tau, divergence: o.distill.divergence, loss: this.g('loss'), dhidden: this.g('dhidden'), gradScale });
    else
      crossEntropyChunked(ctx, acts.get('hidden'), head, this.ws.get('targets') as GpuTensor<'u32'>, this.ws.get('mask') as GpuTensor<'u32'>, this.chunk, {
        loss: this.g('loss'),
        lse: this.g('lse'),
        dhidden: this.g('dhidden'),
        gradScale,
      });

    const hidden = o.distill?.hidden;
    const points = hidden ? this.hiddenPoints(acts, hidden) : [];
    const rows: CountedRows = { targets: this.ws.get('targets') as GpuTensor<'u32'>, mask: this.ws.get('mask') as GpuTensor<'u32'>, V: c.vocabSize };
    const scale = hidden ? hidden.weight / (4 * c.hiddenSize) : 0;
    const rec = new Recorder(ctx);
    for (const p of points) hiddenL1Forward(ctx, this.g('loss'), p.student, p.teacher, rows, scale, { encoder: rec.encoder });
    const norms = trainable.normGrads;
    this.norm(rec, acts.get('x_out'), model.weights.finalNorm, acts.get('rstd_f'), norms?.final, false, o.accumulate);
    rec.flush();
    const recompute = acts.plan.save === 'inputs';
    for (let l = c.numLayers - 1; l >= 0; l--) {
      if (recompute && l < c.numLayers - 1) model.layer(acts, l, rec, { lora: lora[l], upToH: true });
      for (const p of points) if (p.layer === l + 1) hiddenL1Backward(ctx, this.g('dres'), p.student, p.teacher, rows, scale, gradScale, { encoder: rec.encoder });
      this.layer(acts, l, rec, o.accumulate ?? false, o.observe);
      rec.flush();
    }
    return { loss: this.g('loss'), count };
  }

  /** The quarter points: the student's residual stream after layer ⌈q·L/4⌉ beside the teacher's state for quarter q. */
  private hiddenPoints(acts: Activations, h: HiddenTargets) {
    const L = this.model.config.numLayers;
    if (h.states.length !== 4) throw new RangeError(`ModelBackward.step: the hidden-state term needs the teacher's 4 quarter points, got ${h.states.length}`);
    if (!(h.weight >= 0) || !Number.isFinite(h.weight)) throw new RangeError(`ModelBackward.step: hidden-state weight ${h.weight} must be a finite number ≥ 0`);
    return quarterLayers(L).map((layer, q) => ({ layer, student: acts.residual(layer, L), teacher: h.states[q] }));
  }

  /**
   * RMSNorm backward from dhidden (the norm output's gradient): dres ← dx, or
   * dres += dx (`residual`: the skip connection already put dL/dy_block there);
   * dw into `dw` when the norm trains.
   */
  private norm(rec: Recorder, x: GpuTensor<'f32'>, w: GpuTensor<'f32'>, rstd: GpuTensor<'f32'>, dw: GpuTensor<'f32'> | undefined, residual: boolean, accumulate = false): void {
    const ctx = this.model.ctx;
    const dy = this.g('dhidden');
    rmsnormBackward(ctx, { dx: this.g('dres'), accumulate: residual }, dy, x, w, rstd, { encoder: rec.encoder });
    if (dw) rmsnormBackward(ctx, { dw, scratch: this.g('norm_scratch'), accumulate }, dy, x, w, rstd, { encoder: rec.encoder });
  }

  /** Layer l's backward: dres holds dL/d(output of layer l) on entry and dL/d(input of layer l) on exit. */
  private layer(acts: Activations, l: number, rec: Recorder, accumulate: boolean, observe?: LinearGradObserver): void {
    const { model, trainable } = this;
    const ctx = model.ctx;
    const c = model.config;
    const { B, T } = acts;
    const [H, K, D] = [c.numHeads, c.numKvHeads, c.headDim];
    const a = (n: ActName) => acts.get(n, l);
    const lw = model.weights.layers[l];
    const train = trainable.layers[l];
    const enc = rec.encoder;
    const dres = this.g('dres');
    const dxn = this.g('dhidden'); // free once the final norm's backward is done
    const lb = (role: keyof typeof train, dy: GpuTensor<'f32'>, x: GpuTensor<'f32'>, dx: GpuTensor<'f32'>, dxAccumulate: boolean) => {
      observe?.(rec, l, role as LinearRole, dy, x);
      linearBackward(ctx, enc, lw[role], { dy, x, dx, dxAccumulate, train: train[role], accumulate });
    };

    // Sandwich norms (Gemma 3, weights frozen): the branch output's gradient goes back through its norm into dbranch.
    const sandwich = c.sandwichNorms === true;
    const branch = (out: ActName, rstd: ActName, w: GpuTensor<'f32'> | undefined): GpuTensor<'f32'> => {
      if (!sandwich) return dres;
      rmsnormBackward(ctx, { dx: this.g('dbranch') }, dres, a(out), w!, a(rstd), { encoder: enc });
      return this.g('dbranch');
    };
    // MLP: x_out = x_mid + down(act(gate(xn2)) ⊙ up(xn2)) [Gemma: + rmsnorm(down(…))], xn2 = rmsnorm(x_mid).
    lb('down', branch('mlp_out', 'rstd_pf', lw.mlpPostNorm), a('h'), this.g('dh'), false);
    (c.mlpActivation === 'gelu_tanh' ? gegluBackward : swigluBackward)(ctx, { dg: this.g('dg'), du: this.g('du') }, this.g('dh'), a('gate'), a('up'), { encoder: enc });
    lb('gate', this.g('dg'), a('xn2'), dxn, false);
    lb('up', this.g('du'), a('xn2'), dxn, true);
    this.norm(rec, a('x_mid'), lw.mlpNorm, a('rstd2'), trainable.normGrads?.mlp[l], true, accumulate);

    // Attention: x_mid = x + o_proj(attn(rope(q), rope(k), v)), q/k/v = linear(xn1), xn1 = rmsnorm(x).
    lb('o', branch('attn_out', 'rstd_pa', lw.attnPostNorm), a('attn'), this.g('dattn'), false);
    const q4 = (t: GpuTensor<'f32'>) => viewAs(t, [B, T, H, D]);
    const k4 = (t: GpuTensor<'f32'>) => viewAs(t, [B, T, K, D]);
    attentionBackward(
      ctx,
      { dq: q4(this.g('dq')), dk: k4(this.g('dk')), dv: k4(this.g('dv')) },
      q4(a('q')), k4(a('k')), k4(a('v')), q4(a('attn')), a('lse'), q4(this.g('dattn')),
      { window: layerWindow(c, l), delta: this.g('delta'), encoder: enc },
    );
    const rope = model.ropeTable(l);
    if (rope) ropeBackward(ctx, this.g('dq'), this.g('dk'), acts.u32('positions'), rope, { encoder: enc });
    let [dq, dk] = [this.g('dq'), this.g('dk')];
    if (c.qkNorm) {
      // Per-head norms (weights frozen): back through the [N·H, D] view; dattn is free after o_proj's backward.
      const N = B * T;
      const rows = (t: GpuTensor<'f32'>, h: number) => viewAs(t, [N * h, D]);
      rmsnormBackward(ctx, { dx: rows(this.g('dattn'), H) }, rows(dq, H), rows(a('q_raw'), H), lw.qNorm!, a('rstd_q'), { encoder: enc });
      rmsnormBackward(ctx, { dx: rows(this.g('dk_raw'), K) }, rows(dk, K), rows(a('k_raw'), K), lw.kNorm!, a('rstd_k'), { encoder: enc });
      [dq, dk] = [this.g('dattn'), this.g('dk_raw')];
    }
    lb('q', dq, a('xn1'), dxn, false);
    lb('k', dk, a('xn1'), dxn, true);
    lb('v', this.g('dv'), a('xn1'), dxn, true);
    this.norm(rec, acts.residual(l, c.numLayers), lw.attnNorm, a('rstd1'), trainable.normGrads?.attn[l], true, accumulate);
  }

  destroy(): void {
    for (const t of this.ws.values()) t.destroy();
    this.ws.clear();
  }
}

/** Mean loss over the counted rows of a step (one readback). */
export async function meanLoss(r: StepResult): Promise<number> {
  const loss = await r.loss.read();
  let s = 0;
  for (const v of loss) s += v;
  return s / r.count;
}
