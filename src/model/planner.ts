// Memory planner: predicts the peak GPU bytes of a fine-tuning run before
// anything is allocated, so the studio and the CLI can refuse a run the device
// cannot hold, naming the limit and the figure.
//
// The model is an honest first-order count, term by term, of what the training
// step keeps resident: the frozen quantized base, the trainable parameters with
// their gradients and two AdamW moments, the activations saved for backward,
// the chunked cross-entropy logits and a workspace for the widest layer.
// It will be checked against the allocation ledger once the model runs on the
// GPU (see tests of the model issue); until then it is labelled an estimate.

export interface PlannerShape {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  tieWordEmbeddings: boolean;
}

export type TrainMethod = 'peqa' | 'lora';

export interface PlanInput {
  model: PlannerShape;
  method: TrainMethod;
  batch: number;
  seq: number;
  /** Bits of the integer codes of the quantized linear layers. */
  bits: number;
  /** Quantization group size along the input dimension. */
  groupSize: number;
  /** LoRA rank (method lora). */
  rank?: number;
  /** Tokens per cross-entropy chunk: T×V logits are never resident at once. */
  ceChunk?: number;
}

export interface Plan {
  total: number;
  parts: Record<'base' | 'embeddings' | 'trainable' | 'optimizer' | 'activations' | 'logits' | 'workspace', number>;
}

const F32 = 4;

/** The seven linear layers of a Llama block as [out, in]. */
export function linearShapes(m: PlannerShape): [number, number][] {
  const q = m.numHeads * m.headDim;
  const kv = m.numKvHeads * m.headDim;
  const C = m.hiddenSize;
  const F = m.intermediateSize;
  return [
    [q, C],
    [kv, C],
    [kv, C],
    [C, q],
    [F, C],
    [F, C],
    [C, F],
  ];
}

export function planTraining(p: PlanInput): Plan {
  const m = p.model;
  const C = m.hiddenSize;
  const F = m.intermediateSize;
  const N = p.batch * p.seq;
  const groups = (o: number, i: number) => o * Math.ceil(i / p.groupSize);
  const linears = linearShapes(m);

  let base = 0;
  let groupCount = 0;
  let loraParams = 0;
  for (const [o, i] of linears) {
    // codes: rows padded to 32 codes (see the QTensor packing), + f32 scale and offset per group
    base += (o * Math.ceil(i / 32) * 32 * p.bits) / 8 + 2 * F32 * groups(o, i);
    groupCount += groups(o, i);
    loraParams += (p.rank ?? 0) * (o + i);
  }
  base *= m.numLayers;
  groupCount *= m.numLayers;
  loraParams *= m.numLayers;
  // Token embedding in f32 for the lookup; an untied LM head is quantized like a linear layer.
  const embeddings = m.vocabSize * C * F32 + (m.tieWordEmbeddings ? 0 : (m.vocabSize * C * p.bits) / 8 + 2 * F32 * groups(m.vocabSize, C));
  // PEQA trains scales and offsets; LoRA trains A and B. Both keep grad + Adam m, v.
  const trainableCount = p.method === 'peqa' ? 2 * groupCount : loraParams;
  const trainable = trainableCount * F32 * 2; // parameter + gradient
  // AdamW first and second moments, plus the last good parameters and moments the
  // bad-step rollback keeps (src/train/optimizer.ts, onBadStep 'rollback').
  const optimizer = trainableCount * F32 * 5;
  // Saved for backward per token and layer: block input, two norm outputs, q, k, v, attention output,
  // gate, up and their SwiGLU product, plus 2 softmax statistics per head (online softmax).
  const kvDim = m.numKvHeads * m.headDim;
  const perTokenLayer = 4 * C + m.numHeads * m.headDim + 2 * kvDim + 3 * F + 2 * m.numHeads;
  const loraActs = p.method === 'lora' ? 7 * (p.rank ?? 0) : 0;
  const activations = N * m.numLayers * (perTokenLayer + loraActs) * F32 + N * C * F32 * 2; // + final norm in/out
  const chunk = Math.min(N, p.ceChunk ?? 64);
  const logits = chunk * m.vocabSize * F32 * 2; // logits and their gradient for one chunk
  // Widest transient of a layer's backward: gradients flowing through the FFN and attention.
  const workspace = N * (3 * F + 4 * C) * F32;
  const parts = { base, embeddings, trainable, optimizer, activations, logits, workspace };
  return { total: Object.values(parts).reduce((a, b) => a + b, 0), parts };
}
