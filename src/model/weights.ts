// A model's parameters on the GPU, loaded tensor by tensor from a LoadedModel
// following the parameter table (src/arch/params.ts): linear layers dense f32 or
// quantized (src/model/linear.ts), the token embedding as the file holds it —
// f32 for float files, its quantized engine form for quantized ones, looked up
// by gathering and dequantizing only the rows asked for (src/model/embedding.ts)
// —, norm weights f32, and the LM head either the embedding table itself (tied:
// the dense or quantized linear over the same buffers) or its own linear layer.
import type { GpuContext } from '../gpu/device.ts';
import { GpuTensor, ledgerOf } from '../gpu/buffers.ts';
import { createRopeTable, type RopeTable } from '../gpu/kernels/rope.ts';
import { FormatError } from '../base/errors.ts';
import type { LoadedModel, ModelTensor } from '../io/loaded_model.ts';
import type { LlamaConfig } from '../arch/config.ts';
import { ropeInvFreq } from '../arch/rope_freq.ts';
import { destroyLinear, isQuantized, quantizedLinear, readFloats, uploadLinear, type GpuLinear } from './linear.ts';
import { uploadEmbedding } from './embedding.ts';
import { ReadAhead } from './read_ahead.ts';
import { QTensorScratch } from '../quant/qtensor_scratch.ts';
import type { QTensor } from '../quant/qtensor.ts';
import { paramSpec, type LinearRole, type NormRole, type ParamEntry } from '../arch/params.ts';
import { timed, timedAsync, type PhaseClock } from '../base/phase_clock.ts';

export type LayerWeights = Record<LinearRole, GpuLinear> & {
  attnNorm: GpuTensor<'f32'>;
  mlpNorm: GpuTensor<'f32'>;
  /** Per-head q/k norm weights [headDim] (config.qkNorm), else absent. */
  qNorm?: GpuTensor<'f32'>;
  kNorm?: GpuTensor<'f32'>;
  /** Norms of the attention and MLP outputs (config.sandwichNorms), else absent. */
  attnPostNorm?: GpuTensor<'f32'>;
  mlpPostNorm?: GpuTensor<'f32'>;
};

const NORM_FIELD = { attn_norm: 'attnNorm', mlp_norm: 'mlpNorm', q_norm: 'qNorm', k_norm: 'kNorm', attn_post_norm: 'attnPostNorm', mlp_post_norm: 'mlpPostNorm' } as const;

export interface ModelWeights {
  config: LlamaConfig;
  /** The token table [V, C]: dense f32 (float files) or quantized (src/model/embedding.ts); its bias is null. */
  embed: GpuLinear;
  finalNorm: GpuTensor<'f32'>;
  /** Tied: the embedding table itself as a linear layer (same buffers), dense or quantized. */
  lmHead: GpuLinear;
  layers: LayerWeights[];
  rope: RopeTable;
  /** RoPE table of the sliding layers when they have their own base (config.ropeThetaLocal: Gemma 3), else absent. */
  ropeLocal?: RopeTable;
  /** GPU bytes the weights hold (from the ledger, tied tables counted once). */
  bytes: number;
  destroy(): void;
}

export interface LoadWeightsOptions {
  /** Called after each tensor is on the GPU (done of total). */
  onProgress?(done: number, total: number): void;
  /** Linear layers sub4 quantized itself, by engine tensor name: uploaded instead of the file's weights. */
  quantized?: ReadonlyMap<string, QTensor>;
  /** Called after each tensor with the file bytes done and the total the load will read. */
  onBytes?(done: number, total: number): void;
  /** Wall time per phase (read, decode, repack, upload, read+dequant). */
  clock?: PhaseClock;
  /** Convert GGUF blocks on the GPU where a kernel exists; false decodes every type on the CPU. Default: on hardware adapters only (linear.ts uploadQuant). */
  gpuConvert?: boolean;
  /** Checked between tensors: a load that should stop throws from here (everything uploaded is freed). */
  checkCancel?(): void;
}

function tensorFor(model: LoadedModel, p: ParamEntry): ModelTensor {
  const t = model.tensors.get(p.name);
  if (!t) throw new FormatError(model.name, `tensor ${p.name} is missing (the config asks for it${p.role === 'lm_head' ? ': tie_word_embeddings is false' : ''})`);
  if (t.shape.length !== p.shape.length || t.shape.some((n, i) => n !== p.shape[i]))
    throw new FormatError(model.name, `tensor ${p.name} is [${t.shape.join(', ')}], but the config implies [${p.shape.join(', ')}]`);
  return t;
}

/**
 * The file tensors loadWeights reads as raw blocks, in the order it reads them
 * (the token table, an untied head, then layer by layer): the read-ahead's plan.
 */
function rawReadOrder(model: LoadedModel, spec: ParamEntry[], quantized?: ReadonlyMap<string, QTensor>): ModelTensor[] {
  const first = spec.filter((p) => p.role === 'embed' || p.role === 'lm_head');
  const layers = spec.filter((p) => p.layer !== null).sort((a, b) => a.layer! - b.layer!);
  return [...first, ...layers]
    .filter((p) => (p.kind === 'linear' || p.kind === 'embedding') && !quantized?.has(p.name))
    .map((p) => model.tensors.get(p.name))
    .filter((t): t is ModelTensor => t !== undefined && ((isQuantized(t) && !t.readQ && !t.readVq) || t.f32Into !== undefined));
}

/** Upload every parameter the forward needs; on failure, whatever was uploaded is freed. */
export async function loadWeights(ctx: GpuContext, model: LoadedModel, opts: LoadWeightsOptions = {}): Promise<ModelWeights> {
  const c = model.config;
  const spec = paramSpec(c);
  const ledger = ledgerOf(ctx);
  const live0 = ledger.live;
  const owned: { destroy(): void }[] = [];
  const clock = opts.clock;
  // Raw tensors are read one ahead of their decode and upload, into reused buffers; decoding reuses one scratch QTensor.
  const ahead = new ReadAhead(rawReadOrder(model, spec, opts.quantized));
  const upOpts = { clock, gpuConvert: opts.gpuConvert, scratch: new QTensorScratch() };
  // Norms and biases (small) are read directly, not through the read-ahead.
  const vector = async (p: ParamEntry): Promise<GpuTensor<'f32'>> => {
    const x = await readFloats(tensorFor(model, p), upOpts);
    const t = timed(clock, 'upload', () => GpuTensor.from(ctx, x, p.shape, 'f32', p.name));
    owned.push(t);
    return t;
  };
  try {
    const byName = new Map(spec.map((p) => [p.name, p]));
    const get = (name: string) => byName.get(name)!;
    const biasOf = (p: ParamEntry) => spec.find((b) => b.kind === 'bias' && b.layer === p.layer && b.role === p.role) ?? null;
    let done = 0;
    // Bytes the load reads from the file: every entry of the table, each once (tied heads reuse the table).
    const fileBytes = (p: ParamEntry) => (opts.quantized?.has(p.name) ? 0 : (model.tensors.get(p.name)?.bytes ?? 0));
    const totalBytes = spec.reduce((a, p) => a + (p.role === 'lm_head' && c.tieWordEmbeddings ? 0 : fileBytes(p)), 0);
    let bytesDone = 0;
    const step = (p?: ParamEntry) => {
      opts.checkCancel?.();
      opts.onProgress?.(++done, spec.length);
      if (p) bytesDone += fileBytes(p);
      opts.onBytes?.(bytesDone, totalBytes);
    };
    const linear = async (p: ParamEntry): Promise<GpuLinear> => {
      const b = biasOf(p);
      const bias = b ? await vector(b) : null;
      if (b) step(b);
      const q = opts.quantized?.get(p.name);
      const t = q ? null : tensorFor(model, p);
      // GPTQ layers (t.readQ) keep their QTensor on the CPU too, like layers sub4 quantized: PEQA trains them.
      const lin = q
        ? quantizedLinear(ctx, p.name, q, bias, clock)
        : t!.readQ
          ? quantizedLinear(ctx, p.name, await timedAsync(clock, 'read+decode', () => t!.readQ!()), bias, clock)
          : await uploadLinear(ctx, ahead.wrap(t!), bias, upOpts);
      owned.push({ destroy: () => destroyLinear(lin) });
      step(p);
      return lin;
    };

    // The token table, first in the read-ahead's order (raw blocks or float bytes through it).
    const embedSrc = tensorFor(model, get('model.embed_tokens.weight'));
    const embed = await uploadEmbedding(ctx, isQuantized(embedSrc) || embedSrc.f32Into ? ahead.wrap(embedSrc) : embedSrc, upOpts);
    owned.push({ destroy: () => destroyLinear(embed) });
    step(get('model.embed_tokens.weight'));
    const finalNorm = await vector(get('model.norm.weight'));
    step(get('model.norm.weight'));
    const lmHead: GpuLinear = c.tieWordEmbeddings ? { ...embed, type: 'tied' } : await linear(get('lm_head.weight'));
    let freqFactors: Float32Array | undefined;
    if (c.ropeScaling.type === 'freq_factors') {
      freqFactors = await tensorFor(model, get('rope_freqs.weight')).readF32();
      step(get('rope_freqs.weight'));
    }
    const rope = createRopeTable(ctx, ropeInvFreq(c.headDim, c.ropeTheta, c.ropeScaling, freqFactors));
    owned.push(rope);
    // llama.cpp rotates the sliding layers with their own base and no scaling (rope_freq_scale_train_swa = 1).
    const ropeLocal = c.ropeThetaLocal !== undefined ? createRopeTable(ctx, ropeInvFreq(c.headDim, c.ropeThetaLocal, { type: 'none' })) : undefined;
    if (ropeLocal) owned.push(ropeLocal);

    const layers: LayerWeights[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      const lw = {} as Partial<LayerWeights>;
      // In the parameter table's order: its norms and linear layers, whichever the config has.
      for (const p of spec.filter((q) => q.layer === l)) {
        if (p.kind === 'linear') lw[p.role as LinearRole] = await linear(p);
        else if (p.kind === 'norm') {
          lw[NORM_FIELD[p.role as NormRole]] = await vector(p);
          step(p);
        }
      }
      layers.push(lw as LayerWeights);
    }
    const bytes = ledger.live - live0;
    return {
      config: c,
      embed,
      finalNorm,
      lmHead,
      layers,
      rope,
      ropeLocal,
      bytes,
      destroy: () => {
        for (const o of owned) o.destroy();
        owned.length = 0;
      },
    };
  } catch (e) {
    for (const o of owned) o.destroy();
    throw e;
  }
}
