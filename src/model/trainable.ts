// What a fine-tuning run trains on a loaded model, and nothing else: per linear
// layer a PEQA parametrization of its quantization scales/offsets
// (src/quant/parametrize.ts: θ → scale, offset), a LoRA adapter
// (src/model/lora.ts), or both; optionally the RMSNorm weights. A LoRA adapter
// may be DoRA (src/model/dora.ts): a magnitude per output row trains with A
// and B, and the row norms are recomputed in apply() (with ‖W_o‖² too when the
// layer's codebook trains: then W moves). Integer codes,
// embeddings, biases and the LM head stay frozen: no gradient buffer exists
// (learned codebooks may train their table and row scales, indices frozen:
// src/model/codebook_train.ts)
// for them. Each trainable tensor comes with its gradient buffer, grouped for
// the optimizer (src/train/optimizer.ts).
// PEQA writes the effective scale/offset into the quantized layer's own
// buffers (apply(), before each forward); the qlinear kernels then read them
// as usual. Its dscale/doffset are per-layer scratch (overwritten by each
// backward, then reduced into dθ), shared by layers of the same shape.
import type { GpuContext } from '../gpu/device.ts';
import { GpuTensor } from '../gpu/buffers.ts';
import { Sub4Error } from '../base/errors.ts';
import type { GpuLora } from '../gpu/kernels/qlinear.ts';
import { qparamForward, uploadParametrization, type GpuParametrization } from '../gpu/kernels/qparam.ts';
import { submit } from '../gpu/pipelines.ts';
import type { LoadedModel } from '../io/loaded_model.ts';
import { ggufParametrization } from '../quant/gguf_qtensor.ts';
import { parametrizationFor, type Parametrization } from '../quant/parametrize.ts';
import { groupsPerRow } from '../quant/qtensor.ts';
import type { ParamGroup, TrainableParam } from './trainable_param.ts';
import { readQuantLinear, readVqLinear, type GpuLinear } from './linear.ts';
import { isQuantGgmlType } from '../quant/gguf_qtensor.ts';
import { isVqGgmlType, vqCodec } from '../quant/vq/codecs.ts';
import type { VqOrigin } from '../quant/vq/codec.ts';
import type { VqTensor } from '../quant/vq/vqtensor.ts';
import type { LayerLora, LlamaModel } from './llama.ts';
import { createLora, loraRankAt, type LoraOptions, type LoraRanks } from './lora.ts';
import { doraNorms, rowSumSquares, type DoraTrain } from './dora.ts';
import { codebookRefusal, createCodebookTrain, type CodebookTrain } from './codebook_train.ts';
import { LINEAR_ROLES, paramSpec, type LinearRole } from '../arch/params.ts';

export type TrainMethod = 'peqa' | 'lora' | 'peqa+lora';
/** 'auto': the view that exports back to the layer's own GGUF type (super-blocks for K-quants). */
export type PeqaKind = 'auto' | 'scale' | 'scale+offset' | 'gguf-superblock';

export interface TrainConfig {
  method: TrainMethod;
  /** Parametrization of every PEQA layer; default 'auto'. */
  peqa?: PeqaKind;
  /** Roles PEQA trains; default all seven. */
  peqaTargets?: readonly LinearRole[];
  /** Required by 'lora' and 'peqa+lora'; targets default to all seven roles; `ranks` per matrix (loraRankAt). */
  lora?: LoraOptions & { targets?: readonly LinearRole[]; dora?: boolean; ranks?: LoraRanks };
  /** Train the RMSNorm weights as well. */
  norms?: boolean;
  /** Train the table and row scales of every learned-codebook layer (ReALLM's base), indices frozen; combines with any method. */
  codebooks?: boolean;
  /** AdamW weight decay of the LoRA factors (scales and norms get none, as in PEQA). */
  loraWeightDecay?: number;
}

/** A training configuration this model cannot run; names the tensor and the reason. */
export class TrainConfigError extends Sub4Error {}

export interface PeqaTrain {
  /** The CPU view (maps and initial θ), kept for export and references. */
  p: Parametrization;
  gpu: GpuParametrization;
  /** dθ. */
  grad: GpuTensor<'f32'>;
  /** Scratch [O, NG] shared by layers of one shape. */
  dscale: GpuTensor<'f32'>;
  doffset: GpuTensor<'f32'>;
}

export interface LoraTrain {
  lora: GpuLora;
  da: GpuTensor<'f32'>;
  db: GpuTensor<'f32'>;
}

export interface LinearTrain {
  peqa?: PeqaTrain;
  lora?: LoraTrain;
  /** DoRA's magnitude, norms and frozen ‖W_o‖² (with lora; lora.lora.dora points at m and n). */
  dora?: DoraTrain;
  codebook?: CodebookTrain;
}

export interface NormGrads {
  attn: GpuTensor<'f32'>[];
  mlp: GpuTensor<'f32'>[];
  final: GpuTensor<'f32'>;
}

/** The trainable state of one run. Borrows the model's weights; destroy() frees only what it made. */
export class Trainable {
  constructor(
    readonly model: LlamaModel,
    readonly config: TrainConfig,
    /** Per layer, the trained linear roles. */
    readonly layers: readonly Partial<Record<LinearRole, LinearTrain>>[],
    readonly normGrads: NormGrads | null,
    private readonly owned: { destroy(): void }[],
  ) {}

  /** θ → scale, offset of every PEQA layer, and DoRA's row norms (before each forward, i.e. after each optimizer update). */
  apply(encoder?: GPUCommandEncoder): void {
    const ctx = this.model.ctx;
    // A trained codebook moves W itself, so DoRA's ‖W_o‖² is taken again from the table and scales as they are now
    // (a frozen base keeps the run's first). rowSumSquares submits at once, reading every update submitted before
    // this call (the optimizer's, a loaded state's writes); all of them first, so that its identity chunks are never
    // live beside the norms' temporaries below (the planner's doraSideBytes counts the larger of the two).
    this.layers.forEach((roles, l) => {
      for (const [role, t] of Object.entries(roles) as [LinearRole, LinearTrain][]) if (t.dora && t.codebook) rowSumSquares(ctx, this.model.weights.layers[l][role], t.dora.wsq);
    });
    const enc = encoder ?? ctx.device.createCommandEncoder();
    this.layers.forEach((roles, l) => {
      for (const [role, t] of Object.entries(roles) as [LinearRole, LinearTrain][]) {
        const lin = this.model.weights.layers[l][role];
        if (t.peqa && lin.kind === 'quant') qparamForward(ctx, t.peqa.gpu, lin.w.scale, lin.w.offset, enc);
        if (t.dora && t.lora) doraNorms(ctx, enc, lin, t.lora.lora, t.dora);
      }
    });
    if (!encoder) submit(ctx, enc);
  }

  /**
   * DoRA's start, as PEFT's: m ← ‖W_o + s·(B·A)_o‖ for the factors as they are
   * now (B = 0: the base's row norms; a LoRA start: with it), so m/n = 1 and
   * the model is unchanged. Call again after writing a LoRA start.
   */
  initDoraMagnitude(): void {
    const ctx = this.model.ctx;
    const enc = ctx.device.createCommandEncoder();
    this.apply(enc);
    for (const roles of this.layers) for (const t of Object.values(roles)) if (t?.dora) enc.copyBufferToBuffer(t.dora.n.buffer, 0, t.dora.m.buffer, 0, t.dora.n.byteSize);
    submit(ctx, enc);
  }

  /** The adapters per layer, as LlamaModel.forward takes them. */
  get lora(): LayerLora[] {
    return this.layers.map((roles) => {
      const out: LayerLora = {};
      for (const [role, t] of Object.entries(roles) as [LinearRole, LinearTrain][]) if (t.lora) out[role] = t.lora.lora;
      return out;
    });
  }

  /** Parameter groups for AdamW: quantization scales (no decay), LoRA factors, norm weights (no decay). */
  groups(): ParamGroup[] {
    const peqa: TrainableParam[] = [];
    const lora: TrainableParam[] = [];
    const codebooks: TrainableParam[] = [];
    this.layers.forEach((roles, l) => {
      for (const [role, t] of Object.entries(roles) as [LinearRole, LinearTrain][]) {
        const name = `layers.${l}.${role}`;
        if (t.peqa) peqa.push({ name: `${name}.theta`, param: t.peqa.gpu.theta, grad: t.peqa.grad });
        if (t.lora) lora.push({ name: `${name}.lora_a`, param: t.lora.lora.a, grad: t.lora.da }, { name: `${name}.lora_b`, param: t.lora.lora.b, grad: t.lora.db });
        if (t.dora) lora.push({ name: `${name}.lora_magnitude`, param: t.dora.m, grad: t.dora.dm });
        if (t.codebook) codebooks.push({ name: `${name}.codebook`, param: t.codebook.table, grad: t.codebook.dtable }, { name: `${name}.row_scale`, param: t.codebook.scale, grad: t.codebook.dscale });
      }
    });
    const out: ParamGroup[] = [];
    if (peqa.length) out.push({ name: 'quant-scales', weightDecay: 0, params: peqa });
    if (lora.length) out.push({ name: 'lora', weightDecay: this.config.loraWeightDecay ?? 0, params: lora });
    if (codebooks.length) out.push({ name: 'codebooks', weightDecay: 0, params: codebooks });
    const g = this.normGrads;
    if (g) {
      const w = this.model.weights;
      const norms: TrainableParam[] = w.layers.flatMap((lw, l) => [
        { name: `layers.${l}.attn_norm`, param: lw.attnNorm, grad: g.attn[l] },
        { name: `layers.${l}.mlp_norm`, param: lw.mlpNorm, grad: g.mlp[l] },
      ]);
      norms.push({ name: 'final_norm', param: w.finalNorm, grad: g.final });
      out.push({ name: 'norms', weightDecay: 0, params: norms });
    }
    return out;
  }

  /** Every gradient buffer (zeroing, norms). */
  grads(): GpuTensor<'f32'>[] {
    return this.groups().flatMap((g) => g.params.map((p) => p.grad));
  }

  destroy(): void {
    for (const o of this.owned) o.destroy();
    this.owned.length = 0;
  }
}

const rolesOf = (r: readonly LinearRole[] | undefined, what: string): Set<LinearRole> => {
  for (const x of r ?? []) if (!LINEAR_ROLES.includes(x)) throw new TrainConfigError(`${what}: '${x}' is not a linear role (${LINEAR_ROLES.join(', ')})`);
  return new Set(r ?? LINEAR_ROLES);
};

/** The parametrization of one quantized layer, or a TrainConfigError saying why it cannot have that one. */
async function peqaFor(source: LoadedModel, name: string, lin: GpuLinear, kind: PeqaKind): Promise<Parametrization> {
  if (lin.kind !== 'quant')
    throw new TrainConfigError(`${source.name}: PEQA trains the scales of quantized layers, but ${name} is stored as ${lin.type}; train it with LoRA or leave its role out of peqaTargets`);
  if (lin.ggmlType === null) {
    // Quantized by sub4 (integer zero points from RTN): 'auto' is PEQA's own 'scale' view.
    if (!lin.q) throw new TrainConfigError(`${source.name}: ${name} was quantized without keeping its codes on the CPU`);
    if (kind === 'gguf-superblock') throw new TrainConfigError(`${source.name}: ${name} was quantized by sub4 (${lin.type}), it has no GGUF super-blocks (use 'auto')`);
    try {
      return parametrizationFor(kind === 'auto' ? 'scale' : kind, lin.q);
    } catch (e) {
      throw new TrainConfigError(`${source.name}: ${name} (${lin.type}) cannot use the '${kind}' parametrization: ${(e as Error).message}`, { cause: e });
    }
  }
  const t = source.tensors.get(name);
  if (!t || t.ggmlType !== lin.ggmlType) throw new TrainConfigError(`${source.name}: ${name} is not the ${lin.type} tensor the model was loaded with (pass the LoadedModel the weights came from)`);
  if (isVqGgmlType(lin.ggmlType)) return vqPeqaView(source.name, name, lin.type, kind, await readVqLinear(t, lin.ggmlType));
  if (!isQuantGgmlType(lin.ggmlType)) throw new TrainConfigError(`${source.name}: ${name} is ${lin.type}, which has no trainable scales`);
  const { q, origin } = await readQuantLinear(t, lin.ggmlType);
  const isK = origin.sc !== null;
  if (kind === 'gguf-superblock' && !isK) throw new TrainConfigError(`${source.name}: ${name} is ${lin.type}, not a K-quant; 'gguf-superblock' needs super-blocks (use 'auto')`);
  try {
    return kind === 'auto' || kind === 'gguf-superblock' ? ggufParametrization(q, origin) : parametrizationFor(kind, q);
  } catch (e) {
    throw new TrainConfigError(`${source.name}: ${name} (${lin.type}) cannot use the '${kind}' parametrization: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * A codebook layer's view: 'auto' and 'gguf-superblock' are the exact one (θ =
 * each block's stored scale, src/quant/vq/codec.ts) where the type has it;
 * MXFP4/NVFP4 store powers of two / fp8 scales, so 'auto' there is the free
 * 'scale' view, refitted at export. Offsets are zero in every codebook type.
 */
function vqPeqaView(file: string, name: string, type: string, kind: PeqaKind, { q, origin }: { q: VqTensor; origin: VqOrigin }): Parametrization {
  const exact = vqCodec(origin.type).exactView(q, origin);
  if (kind === 'gguf-superblock' && !exact) throw new TrainConfigError(`${file}: ${name} is ${type}, whose block scales are not continuous values; use 'auto' or 'scale' (refitted at export)`);
  if ((kind === 'auto' || kind === 'gguf-superblock') && exact) return exact;
  return parametrizationFor(kind === 'auto' ? 'scale' : (kind as 'scale' | 'scale+offset'), q);
}

/**
 * Build the trainable state of `cfg` for a model loaded from `source` (the
 * quantized tensors are read again to build their parametrizations: the GPU
 * keeps no copy of the GGUF block origin). Checks everything before allocating.
 */
export async function createTrainable(model: LlamaModel, source: LoadedModel, cfg: TrainConfig): Promise<Trainable> {
  const ctx: GpuContext = model.ctx;
  const c = model.config;
  const usesPeqa = cfg.method === 'peqa' || cfg.method === 'peqa+lora';
  const usesLora = cfg.method === 'lora' || cfg.method === 'peqa+lora';
  if (!['peqa', 'lora', 'peqa+lora'].includes(cfg.method)) throw new TrainConfigError(`training method '${cfg.method}' is not peqa, lora or peqa+lora`);
  if (usesLora && !cfg.lora) throw new TrainConfigError(`method '${cfg.method}' needs lora options (rank, alpha)`);
  // DoRA's norms use the frozen ‖W_o‖²; PEQA would move W under them every step.
  if (cfg.lora?.dora && cfg.method !== 'lora') throw new TrainConfigError(`DoRA trains on a frozen base: use it with method 'lora' (lora, lqlora, reallm), not '${cfg.method}'`);
  const peqaRoles = usesPeqa ? rolesOf(cfg.peqaTargets, 'peqaTargets') : new Set<LinearRole>();
  const loraRoles = usesLora ? rolesOf(cfg.lora!.targets, 'lora.targets') : new Set<LinearRole>();
  const kind = cfg.peqa ?? 'auto';
  const names = new Map(paramSpec(c).filter((p) => p.kind === 'linear' && p.layer !== null).map((p) => [`${p.layer}.${p.role}`, p.name]));

  // Every check (and every CPU parametrization) before the first allocation.
  const cpu: Map<string, Parametrization>[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const m = new Map<string, Parametrization>();
    for (const role of peqaRoles) m.set(role, await peqaFor(source, names.get(`${l}.${role}`)!, model.weights.layers[l][role], kind));
    cpu.push(m);
    if (cfg.codebooks)
      for (const role of LINEAR_ROLES) {
        const name = names.get(`${l}.${role}`)!;
        const why = codebookRefusal(model.weights.layers[l][role], source.tensors.get(name));
        if (why) throw new TrainConfigError(`${source.name}: training codebooks needs every linear layer in a learned codebook (--method reallm), but ${name} ${why}`);
        if (peqaRoles.has(role)) throw new TrainConfigError(`${source.name}: ${name}: PEQA and codebook training both train its scales; choose one`);
      }
  }

  const owned: { destroy(): void }[] = [];
  const own = <T extends { destroy(): void }>(t: T): T => (owned.push(t), t);
  const scratch = new Map<string, [GpuTensor<'f32'>, GpuTensor<'f32'>]>();
  try {
    const cbScratch = new Map<string, [GpuTensor<'f32'>, GpuTensor<'f32'>]>();
    const layers: Partial<Record<LinearRole, LinearTrain>>[] = [];
    for (const [l, m] of cpu.entries()) {
      const roles: Partial<Record<LinearRole, LinearTrain>> = {};
      for (const role of LINEAR_ROLES) {
        const lin = model.weights.layers[l][role];
        const label = `layers.${l}.${role}`;
        const t: LinearTrain = {};
        const p = m.get(role);
        if (p && lin.kind === 'quant') {
          const ng = groupsPerRow(lin.cols, lin.w.groupSize);
          const key = `${lin.rows}x${ng}`;
          let s = scratch.get(key);
          if (!s) scratch.set(key, (s = [own(GpuTensor.empty(ctx, [lin.rows, ng], 'f32', `peqa.dscale.${key}`)), own(GpuTensor.empty(ctx, [lin.rows, ng], 'f32', `peqa.doffset.${key}`))]));
          const gpu = own(uploadParametrization(ctx, p, `${label}.peqa`));
          t.peqa = { p, gpu, grad: own(GpuTensor.empty(ctx, [p.theta.length], 'f32', `${label}.peqa.grad`)), dscale: s[0], doffset: s[1] };
        }
        if (loraRoles.has(role) && loraRankAt(cfg.lora!, l, role) > 0) {
          const lora = createLora(ctx, lin.cols, lin.rows, { ...cfg.lora!, rank: loraRankAt(cfg.lora!, l, role), seed: (cfg.lora!.seed ?? 0) * 1000 + l * LINEAR_ROLES.length + LINEAR_ROLES.indexOf(role) }, label);
          own(lora.a);
          own(lora.b);
          t.lora = { lora, da: own(GpuTensor.empty(ctx, lora.a.shape, 'f32', `${label}.lora_a.grad`)), db: own(GpuTensor.empty(ctx, lora.b.shape, 'f32', `${label}.lora_b.grad`)) };
          if (cfg.lora!.dora) {
            const vec = (what: string) => own(GpuTensor.empty(ctx, [lin.rows], 'f32', `${label}.${what}`));
            t.dora = { m: vec('lora_magnitude'), dm: vec('lora_magnitude.grad'), n: vec('dora_norm'), wsq: vec('dora_wsq') };
            rowSumSquares(ctx, lin, t.dora.wsq);
            lora.dora = { m: t.dora.m, n: t.dora.n };
          }
        }
        if (cfg.codebooks && lin.kind === 'quant') {
          const name = names.get(`${l}.${role}`)!;
          t.codebook = await createCodebookTrain(ctx, name, lin, source.tensors.get(name)!, cbScratch, own);
        }
        if (t.peqa || t.lora || t.codebook) roles[role] = t;
      }
      layers.push(roles);
    }
    const C = c.hiddenSize;
    const vec = (name: string) => own(GpuTensor.empty(ctx, [C], 'f32', `${name}.grad`));
    const normGrads: NormGrads | null = cfg.norms
      ? { attn: layers.map((_, l) => vec(`layers.${l}.attn_norm`)), mlp: layers.map((_, l) => vec(`layers.${l}.mlp_norm`)), final: vec('final_norm') }
      : null;
    const tr = new Trainable(model, cfg, layers, normGrads, owned);
    if (cfg.lora?.dora) tr.initDoraMagnitude();
    return tr;
  } catch (e) {
    for (const o of owned) o.destroy();
    throw e;
  }
}
