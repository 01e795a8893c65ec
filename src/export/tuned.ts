// The tuned model as the exporters see it, rebuilt on the CPU from a trained
// state (src/train/state.ts) and the base model it was trained on: every
// quantized linear layer as a QTensor whose codes are the base's, untouched,
// and whose scale/offset are the trained θ pushed through the same
// parametrization training used; trained norm weights; LoRA factors. No GPU:
// export runs after the trainer has gone, in the CLI or the worker.
import type { LoadedModel } from '../io/loaded_model.ts';
import type { LoraFactor, LoraSet } from '../io/lora/set.ts';
import { isQuantized, readQuantLinear, readVqLinear } from '../model/linear.ts';
import type { ModelTensor } from '../io/loaded_model.ts';
import type { GgmlType } from '../quant/formats.ts';
import { isVqGgmlType, vqCodec } from '../quant/vq/codecs.ts';
import type { VqOrigin } from '../quant/vq/codec.ts';
import type { VqTensor } from '../quant/vq/vqtensor.ts';
import { paramSpec, type LinearRole } from '../arch/params.ts';
import { loraRankAt } from '../model/lora.ts';
import { ggufParametrization, isQuantGgmlType, type GgufOrigin } from '../quant/gguf_qtensor.ts';
import { applyParametrization, parametrizationFor, type ParamKind, type Parametrization } from '../quant/parametrize.ts';
import type { QTensor } from '../quant/qtensor.ts';
import { TrainedStateError, type StateManifest } from '../train/state.ts';

export interface TunedLinear {
  /** Engine (HF) tensor name. */
  name: string;
  layer: number;
  role: LinearRole;
  /** Codes as the base has them; scale/offset tuned (engine row order). */
  q: QTensor;
  /** The GGUF blocks it came from (GGUF bases), else null (sub4 quantized it). */
  origin: GgufOrigin | null;
  /** The trained parametrization and θ, when PEQA trained this layer. */
  trained: { kind: ParamKind; theta: Float32Array } | null;
}

/** A codebook-typed layer (i-quants, IQ4/FP4 tables, ternary) of a GGUF base: indices and signs as the base has them. */
export interface TunedVqLinear {
  name: string;
  layer: number;
  role: LinearRole;
  /** Engine row order; scale/offset tuned. */
  q: VqTensor;
  /** The base's stored scale fields. */
  origin: VqOrigin;
  /** The trained view ('gguf-superblock': the exact one) and θ, when PEQA trained this layer. */
  trained: { kind: ParamKind; theta: Float32Array } | null;
}

export interface TunedModel {
  manifest: StateManifest;
  base: LoadedModel;
  /** Every quantized linear layer with a scalar grid (QTensor), trained or not. */
  linears: Map<string, TunedLinear>;
  /** Every codebook-typed linear layer, trained or not. */
  vqLinears: Map<string, TunedVqLinear>;
  /** Trained RMSNorm weights by engine name. */
  norms: Map<string, Float32Array>;
  lora: LoraSet | null;
}

const NORM_NAMES: [RegExp, (m: RegExpExecArray) => string][] = [
  [/^layers\.(\d+)\.attn_norm$/, (m) => `model.layers.${m[1]}.input_layernorm.weight`],
  [/^layers\.(\d+)\.mlp_norm$/, (m) => `model.layers.${m[1]}.post_attention_layernorm.weight`],
  [/^final_norm$/, () => 'model.norm.weight'],
];

/** The view a trained layer used: GGUF-native for 'auto' on GGUF blocks, else the named one. */
function viewOf(kind: string, q: QTensor, origin: GgufOrigin | null, file: string, name: string): Parametrization {
  try {
    if (kind === 'gguf-superblock' || (origin && (kind === 'auto' || kind === ggufParametrization(q, origin).kind))) {
      if (!origin) throw new RangeError('it has no GGUF super-blocks');
      return ggufParametrization(q, origin);
    }
    if (kind !== 'scale' && kind !== 'scale+offset') throw new RangeError(`unknown parametrization '${kind}'`);
    return parametrizationFor(kind, q);
  } catch (e) {
    if (e instanceof TrainedStateError) throw e;
    throw new TrainedStateError(file, `${name}: the '${kind}' parametrization does not fit the base layer (${(e as Error).message}); is this the base the run trained on?`);
  }
}

/** A codebook layer with its trained θ pushed through the view training used (trainable.ts vqPeqaView). */
async function tunedVq(
  t: ModelTensor,
  type: GgmlType,
  name: string,
  layer: number,
  role: LinearRole,
  byName: Map<string, StateManifest['tensors'][number]>,
  tensors: ReadonlyMap<string, Float32Array>,
  file: string,
): Promise<TunedVqLinear> {
  let { q, origin } = await readVqLinear(t, type);
  const key = `layers.${layer}.${role}.theta`;
  const info = byName.get(key);
  if (!info) return { name, layer, role, q, origin, trained: null };
  const kind = info.parametrization ?? 'auto';
  const exact = vqCodec(type).exactView(q, origin);
  let view: Parametrization;
  if ((kind === 'auto' || kind === 'gguf-superblock') && exact) view = exact;
  else if (kind === 'auto' || kind === 'scale' || kind === 'scale+offset') view = parametrizationFor(kind === 'auto' ? 'scale' : kind, q);
  else throw new TrainedStateError(file, `${name}: the '${kind}' parametrization does not fit its ${t.type} blocks; is this the base the run trained on?`);
  const theta = tensors.get(key)!;
  if (theta.length !== view.theta.length) throw new TrainedStateError(file, `${key} holds ${theta.length} values; ${name}'s ${view.kind} view has ${view.theta.length}`);
  const { scale, offset } = applyParametrization(view, theta);
  q = { ...q, scale, offset };
  return { name, layer, role, q, origin, trained: { kind: view.kind, theta } };
}

/** Rebuild the tuned model; `file` names the state for errors. */
export async function tunedModel(
  base: LoadedModel,
  state: { manifest: StateManifest; tensors: ReadonlyMap<string, Float32Array>; quantizedBase: ReadonlyMap<string, QTensor> },
  file: string,
): Promise<TunedModel> {
  const { manifest, tensors } = state;
  const byName = new Map(manifest.tensors.map((t) => [t.name, t]));
  const linears = new Map<string, TunedLinear>();
  const vqLinears = new Map<string, TunedVqLinear>();
  for (const p of paramSpec(base.config)) {
    if (p.kind !== 'linear' || p.layer === null) continue;
    const t = base.tensors.get(p.name);
    if (!t) throw new TrainedStateError(file, `the base ${base.name} has no ${p.name}; is it the model the run trained on?`);
    if (t.ggmlType !== null && isVqGgmlType(t.ggmlType) && !state.quantizedBase.has(p.name)) {
      vqLinears.set(p.name, await tunedVq(t, t.ggmlType, p.name, p.layer, p.role as LinearRole, byName, tensors, file));
      continue;
    }
    let q = state.quantizedBase.get(p.name) ?? null;
    let origin: GgufOrigin | null = null;
    if (!q && isQuantized(t)) {
      if (t.ggmlType !== null && isQuantGgmlType(t.ggmlType)) ({ q, origin } = await readQuantLinear(t, t.ggmlType));
      else if (t.readQ) q = await t.readQ();
    }
    if (!q) continue;
    if (q.rows !== p.shape[0] || q.cols !== p.shape[1]) throw new TrainedStateError(file, `${p.name} is [${q.rows}, ${q.cols}] in the state, [${p.shape.join(', ')}] in ${base.name}`);
    const key = `layers.${p.layer}.${p.role}.theta`;
    const info = byName.get(key);
    let trained: TunedLinear['trained'] = null;
    if (info) {
      const theta = tensors.get(key)!;
      const view = viewOf(info.parametrization ?? 'auto', q, origin, file, p.name);
      if (theta.length !== view.theta.length) throw new TrainedStateError(file, `${key} holds ${theta.length} values; ${p.name}'s ${view.kind} view has ${view.theta.length}`);
      const { scale, offset } = applyParametrization(view, theta);
      q = { ...q, scale, offset };
      trained = { kind: view.kind, theta };
    }
    linears.set(p.name, { name: p.name, layer: p.layer, role: p.role as LinearRole, q, origin, trained });
  }

  const norms = new Map<string, Float32Array>();
  for (const t of manifest.tensors) {
    if (t.kind !== 'norm') continue;
    const hit = NORM_NAMES.map(([re, to]) => [re.exec(t.name), to] as const).find(([m]) => m);
    if (!hit) throw new TrainedStateError(file, `norm tensor ${t.name} is not one sub4 trains`);
    norms.set(hit[1](hit[0]!), tensors.get(t.name)!);
  }

  let lora: LoraSet | null = null;
  if (manifest.lora) {
    const factors: LoraFactor[] = [];
    const setRank = manifest.trainConfig.lora?.rank ?? manifest.lora.rank;
    for (const t of manifest.tensors) {
      if (t.kind !== 'lora-a') continue;
      const bName = t.name.replace(/lora_a$/, 'lora_b');
      const a = tensors.get(t.name)!;
      const b = tensors.get(bName);
      const bInfo = byName.get(bName);
      if (!b || !bInfo) throw new TrainedStateError(file, `${t.name} has no ${bName}`);
      const [rank, inF] = t.shape;
      const [outF] = bInfo.shape;
      // The rank this matrix was built at: the run's one rank, or its --budget plan's (TrainConfig.lora.ranks).
      const want = loraRankAt(manifest.trainConfig.lora ?? manifest.lora, t.layer!, t.role!);
      if (rank !== want || bInfo.shape[1] !== rank) throw new TrainedStateError(file, `${t.name}/${bName} are not rank ${want}`);
      const magnitude = tensors.get(t.name.replace(/lora_a$/, 'lora_magnitude'));
      if (manifest.trainConfig.lora?.dora && magnitude?.length !== outF) throw new TrainedStateError(file, `${t.name}: a DoRA run without its ${outF}-value magnitude ${t.name.replace(/lora_a$/, 'lora_magnitude')}`);
      factors.push({ layer: t.layer!, role: t.role as LinearRole, a, b, inFeatures: inF, outFeatures: outF, ...(rank !== setRank ? { rank } : {}), ...(manifest.trainConfig.lora?.dora ? { magnitude } : {}) });
    }
    lora = { rank: setRank, alpha: manifest.lora.alpha, factors };
  }
  return { manifest, base, linears, vqLinears, norms, lora };
}
