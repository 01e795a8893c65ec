// The Llama-family forward pass on the GPU, composed from the kernels:
//   x = embed(ids) [· sqrt(hidden) for Gemma]
//   per layer: xn1 = rmsnorm(x); q, k, v = linear(xn1) (+ bias);
//              [qkNorm: q, k = per-head rmsnorm over headDim (Qwen3)];
//              rope(q, k) (not on SmolLM3's NoPE layers; Gemma's sliding layers
//              with their own base); attn = causal GQA attention (over the KV
//              cache when decoding; the layer's window, src/arch/layers.ts);
//              x_mid = x + o_proj(attn) [Gemma: + rmsnorm(o_proj(attn))];
//              xn2 = rmsnorm(x_mid); h = silu(gate(xn2)) ⊙ up(xn2) [Gemma: gelu_tanh];
//              x_next = x_mid + down(h) [Gemma: + rmsnorm(down(h))]
//   hidden = rmsnorm(x_out); logits = hidden · lm_headᵀ
// over a batch of B sequences of T tokens (positions per row). Every buffer
// comes from the activation plan (src/model/spec.ts): with `save`, what a
// backward needs stays per layer in `Activations` after the call (with
// 'inputs', only each layer's input: the backward re-runs layer() from it).
// LoRA adapters, when given, join each linear layer (src/model/lora.ts).
// One Recorder per layer: its kernels go out in one submit.
import type { GpuContext } from '../gpu/device.ts';
import { GpuTensor } from '../gpu/buffers.ts';
import { add } from '../gpu/kernels/elementwise.ts';
import { attentionForward } from '../gpu/kernels/attention.ts';
import { crossEntropyChunked, type LmHead } from '../gpu/kernels/cross_entropy.ts';
import { validateTokenIds } from '../gpu/kernels/embedding.ts';
import { embedTokens } from './embedding.ts';
import { rmsnormForward } from '../gpu/kernels/rmsnorm.ts';
import { ropeForward, type RopeTable } from '../gpu/kernels/rope.ts';
import { swigluForward } from '../gpu/kernels/swiglu.ts';
import type { GpuLora } from '../gpu/kernels/qlinear.ts';
import type { KvCache } from './kv_cache.ts';
import { linearForward } from './linear.ts';
import { Recorder } from './recorder.ts';
import { planActivations, type ActivationPlan, type ActName, type SaveMode } from './spec.ts';
import { type LinearRole } from '../arch/params.ts';
import { layerRope, layerWindow } from '../arch/layers.ts';
import { gegluForward } from '../gpu/kernels/geglu.ts';
import { viewAs } from './view.ts';
import type { ModelWeights } from './weights.ts';

const QKV: readonly LinearRole[] = ['q', 'k', 'v'];
const O: readonly LinearRole[] = ['o'];
const GATE_UP: readonly LinearRole[] = ['gate', 'up'];
const DOWN: readonly LinearRole[] = ['down'];

/** The activation buffers of one (B, T, save) plan. */
export class Activations {
  private readonly slots: GpuTensor[] = [];
  private readonly index = new Map<string, GpuTensor>();

  constructor(
    ctx: GpuContext,
    readonly plan: ActivationPlan,
  ) {
    try {
      for (const s of plan.slots) this.slots.push(GpuTensor.empty(ctx, s.shape, s.dtype, `act.${s.key}`));
    } catch (e) {
      this.destroy();
      throw e;
    }
    for (const e of plan.entries) this.index.set(`${e.name}@${e.layer ?? ''}`, viewAs(this.slots[e.slot], e.shape));
  }

  get B(): number {
    return this.plan.B;
  }
  get T(): number {
    return this.plan.T;
  }

  /** The buffer of an activation (layer-less names: ids, positions, x_out, hidden, rstd_f). */
  get(name: ActName, layer: number | null = null): GpuTensor<'f32'> {
    const t = this.index.get(`${name}@${layer ?? ''}`);
    if (!t) throw new RangeError(`activation ${name}${layer === null ? '' : ` of layer ${layer}`} is not in the plan`);
    return t as GpuTensor<'f32'>;
  }

  u32(name: 'ids' | 'positions'): GpuTensor<'u32'> {
    return this.get(name) as unknown as GpuTensor<'u32'>;
  }

  /** Residual stream input of layer l (layer numLayers: the last layer's output). */
  residual(l: number, numLayers: number): GpuTensor<'f32'> {
    return l === numLayers ? this.get('x_out') : this.get('x', l);
  }

  destroy(): void {
    for (const t of this.slots) t.destroy();
    this.slots.length = 0;
  }
}

/**
 * Sees each distinct input x [B·T, I] of a layer's linear projections while the
 * forward records: xn1 (q, k, v), attn (o), xn2 (gate, up), h (down). Work it
 * records into rec.encoder runs before x's buffer is reused (importance
 * matrices, src/model/imatrix.ts). Absent: the forward records nothing extra.
 */
export type LinearInputObserver = (rec: Recorder, layer: number, roles: readonly LinearRole[], x: GpuTensor<'f32'>) => void;

/** LoRA adapters of one layer, by linear role. */
export type LayerLora = Partial<Record<LinearRole, GpuLora>>;

export interface RunOptions {
  /** Absolute positions per token row [B·T]; default t for row (b, t), or cache.length + t with a cache. */
  positions?: ArrayLike<number>;
  /** Decode: attend over this cache, after writing the new k/v rows at cache.length.. (advances it). */
  cache?: KvCache;
  /** LoRA adapters per layer (index = layer). */
  lora?: readonly LayerLora[];
  /** Called with every distinct linear input (see LinearInputObserver). */
  observe?: LinearInputObserver;
}

export interface LayerOptions {
  cache?: KvCache;
  /** Position of the first new token (cache.length before the call). */
  start?: number;
  lora?: LayerLora;
  /** Stop after the SwiGLU product h: recomputation for the backward needs nothing later. */
  upToH?: boolean;
  observe?: LinearInputObserver;
}

/** A loaded model ready to run forwards. Weights are borrowed: the caller destroys them. */
export class LlamaModel {
  constructor(
    readonly ctx: GpuContext,
    readonly weights: ModelWeights,
  ) {}

  get config() {
    return this.weights.config;
  }

  /** Buffers for a B×T forward; `save` keeps per layer what a backward needs (see SaveMode). */
  activations(B: number, T: number, save: SaveMode = false): Activations {
    return new Activations(this.ctx, planActivations(this.config, B, T, save));
  }

  /** ids [B·T] (sequence-major) → acts.hidden (final-normalised rows). Submits all work; returns at once. */
  forward(acts: Activations, ids: ArrayLike<number>, opts: RunOptions = {}): void {
    const c = this.config;
    const { B, T } = acts;
    const N = B * T;
    if (ids.length !== N) throw new RangeError(`forward: ${ids.length} token ids for a batch of ${B}×${T}`);
    validateTokenIds(ids, c.vocabSize);
    const cache = opts.cache;
    const start = cache ? cache.length : 0;
    if (cache) {
      if (cache.B !== B) throw new RangeError(`forward: the KV cache holds ${cache.B} sequences, the batch ${B}`);
      cache.checkRoom(start, T);
    }
    const pos = new Uint32Array(N);
    if (opts.positions) {
      if (opts.positions.length !== N) throw new RangeError(`forward: ${opts.positions.length} positions for ${N} tokens`);
      for (let i = 0; i < N; i++) {
        const p = opts.positions[i];
        if (!Number.isInteger(p) || p < 0 || p > 0xffffffff) throw new RangeError(`forward: position ${p} at row ${i} is not a u32`);
        pos[i] = p;
      }
    } else for (let i = 0; i < N; i++) pos[i] = start + (i % T);
    acts.u32('ids').write(Uint32Array.from(ids));
    acts.u32('positions').write(pos);

    const ctx = this.ctx;
    const rec = new Recorder(ctx);
    embedTokens(ctx, acts.residual(0, c.numLayers), this.weights.embed, acts.u32('ids'), c.embedScale, rec.encoder);
    for (let l = 0; l < c.numLayers; l++) {
      this.layer(acts, l, rec, { cache, start, lora: opts.lora?.[l], observe: opts.observe });
      rec.flush(); // one submit per layer
    }
    rmsnormForward(ctx, acts.get('hidden'), acts.get('rstd_f'), acts.get('x_out'), this.weights.finalNorm, c.rmsNormEps, { encoder: rec.encoder });
    rec.flush();
    if (cache) cache.length = start + T;
  }

  /** Record layer l (input acts.residual(l), output acts.residual(l + 1)) into rec; positions and ids already written. */
  layer(acts: Activations, l: number, rec: Recorder, o: LayerOptions = {}): void {
    const c = this.config;
    const ctx = this.ctx;
    const { B, T } = acts;
    const eps = c.rmsNormEps;
    const window = layerWindow(c, l);
    const [H, K, D] = [c.numHeads, c.numKvHeads, c.headDim];
    const a = (n: ActName) => acts.get(n, l);
    const lw = this.weights.layers[l];
    const lora = o.lora ?? {};
    const x = acts.residual(l, c.numLayers);
    const enc = { encoder: rec.encoder };
    rmsnormForward(ctx, a('xn1'), a('rstd1'), x, lw.attnNorm, eps, enc);
    o.observe?.(rec, l, QKV, a('xn1'));
    const qkNorm = c.qkNorm === true;
    linearForward(ctx, rec, a(qkNorm ? 'q_raw' : 'q'), a('xn1'), lw.q, lora.q);
    linearForward(ctx, rec, a(qkNorm ? 'k_raw' : 'k'), a('xn1'), lw.k, lora.k);
    linearForward(ctx, rec, a('v'), a('xn1'), lw.v, lora.v);
    if (qkNorm) {
      // The RMSNorm kernel normalises the last dimension, so viewing [N, H·D] as [N·H, D] makes it per head.
      const N = B * T;
      rmsnormForward(ctx, viewAs(a('q'), [N * H, D]), a('rstd_q'), viewAs(a('q_raw'), [N * H, D]), lw.qNorm!, eps, enc);
      rmsnormForward(ctx, viewAs(a('k'), [N * K, D]), a('rstd_k'), viewAs(a('k_raw'), [N * K, D]), lw.kNorm!, eps, enc);
    }
    const rope = this.ropeTable(l);
    if (rope) ropeForward(ctx, a('q'), a('k'), acts.u32('positions'), rope, enc);
    const q4 = viewAs(a('q'), [B, T, H, D]);
    const o4 = viewAs(a('attn'), [B, T, H, D]);
    if (o.cache) {
      const start = o.start ?? 0;
      o.cache.write(rec.encoder, l, a('k'), a('v'), start, T);
      attentionForward(ctx, o4, a('lse'), q4, o.cache.k[l], o.cache.v[l], { qOffset: start, window, encoder: rec.encoder });
    } else {
      const k4 = viewAs(a('k'), [B, T, K, D]);
      const v4 = viewAs(a('v'), [B, T, K, D]);
      attentionForward(ctx, o4, a('lse'), q4, k4, v4, { window, encoder: rec.encoder });
    }
    o.observe?.(rec, l, O, a('attn'));
    linearForward(ctx, rec, a('attn_out'), a('attn'), lw.o, lora.o);
    const sandwich = c.sandwichNorms === true;
    if (sandwich) rmsnormForward(ctx, a('attn_post'), a('rstd_pa'), a('attn_out'), lw.attnPostNorm!, eps, enc);
    add(ctx, a('x_mid'), x, a(sandwich ? 'attn_post' : 'attn_out'), enc);
    rmsnormForward(ctx, a('xn2'), a('rstd2'), a('x_mid'), lw.mlpNorm, eps, enc);
    o.observe?.(rec, l, GATE_UP, a('xn2'));
    linearForward(ctx, rec, a('gate'), a('xn2'), lw.gate, lora.gate);
    linearForward(ctx, rec, a('up'), a('xn2'), lw.up, lora.up);
    (c.mlpActivation === 'gelu_tanh' ? gegluForward : swigluForward)(ctx, a('h'), a('gate'), a('up'), enc);
    // Recomputation stops here, unless the MLP output norm's backward needs mlp_out and its rstd.
    if (o.upToH && !sandwich) return;
    o.observe?.(rec, l, DOWN, a('h'));
    linearForward(ctx, rec, a('mlp_out'), a('h'), lw.down, lora.down);
    if (sandwich) rmsnormForward(ctx, a('mlp_post'), a('rstd_pf'), a('mlp_out'), lw.mlpPostNorm!, eps, enc);
    if (o.upToH) return;
    add(ctx, acts.residual(l + 1, c.numLayers), a('x_mid'), a(sandwich ? 'mlp_post' : 'mlp_out'), enc);
  }

  /** The RoPE table layer l rotates q/k with, or null on a NoPE layer (src/arch/layers.ts). */
  ropeTable(l: number): RopeTable | null {
    const kind = layerRope(this.config, l);
    return kind === null ? null : kind === 'local' ? this.weights.ropeLocal! : this.weights.rope;
  }

  /** logits [rows, V] of hidden rows row0..row0+rows−1 (a new tensor the caller destroys). */
  logits(acts: Activations, row0 = 0, rows = acts.B * acts.T): GpuTensor<'f32'> {
    const N = acts.B * acts.T;
    if (!Number.isInteger(row0) || !Number.isInteger(rows) || row0 < 0 || rows < 1 || row0 + rows > N)
      throw new RangeError(`logits: rows ${row0}..${row0 + rows - 1} are outside the ${N} rows of the batch`);
    const ctx = this.ctx;
    const C = this.config.hiddenSize;
    const hidden = acts.get('hidden');
    const z = GpuTensor.empty(ctx, [rows, this.config.vocabSize], 'f32', 'logits');
    const rec = new Recorder(ctx);
    let h = hidden;
    if (rows !== N) {
      h = GpuTensor.empty(ctx, [rows, C], 'f32', 'logits.hidden_rows');
      rec.encoder.copyBufferToBuffer(hidden.buffer, row0 * C * 4, h.buffer, 0, rows * C * 4);
    }
    linearForward(ctx, rec, z, h, this.weights.lmHead);
    rec.flush();
    if (h !== hidden) h.destroy();
    return z;
  }

  /** The LM head as crossEntropyChunked calls it (forward only; the head is frozen here). */
  lmHead(): LmHead {
    return {
      vocab: this.config.vocabSize,
      forward: (enc, logits, hidden) => linearForward(this.ctx, new Recorder(this.ctx, enc), logits, hidden, this.weights.lmHead),
    };
  }

  /**
   * Per-token next-token loss [B·T] (−log p(target)) of the last forward, through
   * the LM head R rows at a time (N×V logits are never resident). Rows with mask
   * 0 or target ≥ V (use 0xffffffff) get 0. Returns a tensor the caller destroys.
   */
  tokenLoss(acts: Activations, targets: ArrayLike<number>, mask: ArrayLike<number>, chunk = 256): GpuTensor<'f32'> {
    const N = acts.B * acts.T;
    if (targets.length !== N || mask.length !== N) throw new RangeError(`tokenLoss: ${targets.length} targets and ${mask.length} mask values for ${N} tokens`);
    const ctx = this.ctx;
    const t = GpuTensor.from(ctx, Uint32Array.from(targets), [N], 'u32', 'loss.targets');
    const m = GpuTensor.from(ctx, Uint32Array.from(mask), [N], 'u32', 'loss.mask');
    const loss = GpuTensor.empty(ctx, [N], 'f32', 'loss.per_token');
    try {
      crossEntropyChunked(ctx, acts.get('hidden'), this.lmHead(), t, m, chunk, { loss });
    } catch (e) {
      loss.destroy();
      throw e;
    } finally {
      t.destroy();
      m.destroy();
    }
    return loss;
  }
}
