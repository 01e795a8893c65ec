// Quantizing an unquantized model's linear layers for PEQA / QLoRA: each f32
// (or F16/BF16) weight [O, I] → a QTensor by round-to-nearest with an integer
// zero point (asymmetric: PEQA keeps the zero point fixed while the scale
// trains) and, at 2–3 bits, the MSE clip search (outliers cost more than
// clipping them there). Only original float weights are accepted: re-quantizing
// an already quantized layer would compound two rounding errors silently.
import { Sub4Error } from '../base/errors.ts';
import type { LoadedModel, ModelTensor } from '../io/loaded_model.ts';
import { isQuantized, readFloats } from '../model/linear.ts';
import { ReadAhead } from '../model/read_ahead.ts';
import { QTensorScratch } from '../quant/qtensor_scratch.ts';
import { LINEAR_ROLES, paramSpec, type LinearRole } from '../arch/params.ts';
import { quantizeRtn } from '../quant/quantize/rtn.ts';
import { QBITS, type QBits, type QTensor } from '../quant/qtensor.ts';

export interface QuantizeOptions {
  bits: 2 | 3 | 4;
  /** Group size along the input dimension, or 'channel' (one group per output row). */
  groupSize: number | 'channel';
}

/** The layer cannot be quantized as asked; names the tensor and why. */
export class QuantizeModelError extends Sub4Error {}

/** Original float weights of a linear tensor, or a QuantizeModelError naming its stored type. */
export async function originalWeights(model: LoadedModel, t: ModelTensor, what: string): Promise<Float32Array> {
  if (isQuantized(t))
    throw new QuantizeModelError(`${model.name}: ${what} needs the original float weights, but ${t.name} is stored as ${t.type}; start from an F32/F16/BF16 model (a GGUF in F32/F16 or a Hugging Face folder)`);
  return t.readF32();
}

/**
 * originalWeights of each tensor in turn, for a caller that is done with one
 * before it asks for the next (each array is valid until then): float tensors
 * that convert from raw bytes (safetensors, ModelTensor.f32Into) are read one
 * ahead into reused buffers and converted into one reused f32 array, as a load
 * reads them (src/model/read_ahead.ts), so a model's worth of quantizer inputs
 * costs two raw buffers and one f32 tensor of host memory, not a fresh pair per layer.
 */
export async function* originalWeightsInTurn(model: LoadedModel, tensors: readonly ModelTensor[], what: string): AsyncGenerator<[ModelTensor, Float32Array]> {
  const ahead = new ReadAhead(tensors.filter((t) => t.f32Into && !isQuantized(t)));
  const scratch = new QTensorScratch();
  for (const t of tensors)
    yield [t, t.f32Into && !isQuantized(t) ? await readFloats(ahead.wrap(t), { scratch }) : await originalWeights(model, t, what)];
}

/** One weight [rows, cols] → QTensor (asymmetric RTN; MSE clip search below 4 bits). */
export function quantizeWeight(w: Float32Array, rows: number, cols: number, o: QuantizeOptions, name = 'weight'): QTensor {
  if (!QBITS.includes(o.bits as QBits) || o.bits > 4) throw new QuantizeModelError(`${name}: bits ${o.bits} is not 2, 3 or 4`);
  // A row whose length is not a multiple of the group ends in a shorter group
  // (stories260K's down_proj: 172 = 5·32 + 12); the QTensor and the kernels take it.
  try {
    return quantizeRtn(w, rows, cols, { bits: o.bits, groupSize: o.groupSize, symmetric: false, mse: o.bits <= 3 });
  } catch (e) {
    throw new QuantizeModelError(`${name}: ${(e as Error).message}`, { cause: e });
  }
}

/** Every linear layer of `roles` (default all seven) quantized, by engine tensor name. Checks every layer first. */
export async function quantizeModelLinears(model: LoadedModel, o: QuantizeOptions, roles: readonly LinearRole[] = LINEAR_ROLES): Promise<Map<string, QTensor>> {
  const targets = paramSpec(model.config).filter((p) => p.kind === 'linear' && p.layer !== null && roles.includes(p.role as LinearRole));
  const tensors = targets.map((p) => {
    const t = model.tensors.get(p.name);
    if (!t) throw new QuantizeModelError(`${model.name}: tensor ${p.name} is missing`);
    if (isQuantized(t)) throw new QuantizeModelError(`${model.name}: ${p.name} is already quantized (${t.type}); --bits re-quantizes only float weights`);
    return t;
  });
  const out = new Map<string, QTensor>();
  // quantizeRtn keeps nothing of its input, so each weight's array may be reused for the next.
  for await (const [t, w] of originalWeightsInTurn(model, tensors, 'quantizing')) out.set(t.name, quantizeWeight(w, t.shape[0], t.shape[1], o, t.name));
  return out;
}
