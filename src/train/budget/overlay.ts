// A float model whose linear layers sub4 quantized into GGUF block types (the
// budget plan, src/train/budget/plan.ts), seen by the rest of the engine as if
// the file had stored them that way: each such ModelTensor reports the chosen
// ggmlType and its bytes, readRaw() gives the blocks (already in engine row
// order, so rowOrder is null) and readF32() their reference dequantization.
// loadWeights, createTrainable, the planner and the tuned-model export then
// treat them as GGUF-typed layers with no code of their own. Every other
// tensor (embeddings, norms, the LM head, layers left to a sub4 grid) is the
// file's, and the file's metadata (gguf/hf, tokenizer) is kept.
// ReALLM runs (src/train/reallm.ts) overlay learned-codebook layers the same
// way: ModelTensors with readVq() and `vq`, as an AQLM import's, which
// loadWeights puts on the codebook kernels.
import type { LoadedModel, ModelTensor } from '../../io/loaded_model.ts';
import { BLOCK_FORMATS, ggmlTypeName, type GgmlType } from '../../quant/formats.ts';
import { dequantizeVq, type VqTensor } from '../../quant/vq/vqtensor.ts';

/** One layer's GGUF blocks, engine row order. */
export interface GgufLayer {
  type: GgmlType;
  rows: number;
  cols: number;
  blocks: Uint8Array;
}

function layerTensor(t: ModelTensor, l: GgufLayer): ModelTensor {
  const f = BLOCK_FORMATS[l.type as keyof typeof BLOCK_FORMATS];
  if (!f) throw new RangeError(`${t.name}: sub4 cannot decode ${ggmlTypeName(l.type)}`);
  if (t.shape.length !== 2 || t.shape[0] !== l.rows || t.shape[1] !== l.cols) throw new RangeError(`${t.name}: [${l.rows}, ${l.cols}] blocks for a [${t.shape.join(', ')}] tensor`);
  const n = l.rows * l.cols;
  if (l.cols % f.blockSize !== 0 || l.blocks.length !== (n / f.blockSize) * f.bytesPerBlock)
    throw new RangeError(`${t.name}: ${l.blocks.length} bytes are not [${l.rows}, ${l.cols}] of ${f.name}`);
  return {
    name: t.name,
    ggufName: t.ggufName,
    shape: [...t.shape],
    type: f.name,
    ggmlType: l.type,
    bytes: l.blocks.length,
    rowOrder: null,
    async readF32() {
      const out = new Float32Array(n);
      f.dequantize(l.blocks, out, n / f.blockSize);
      return out;
    },
    async readRaw() {
      return l.blocks;
    },
  };
}

/**
 * A layer sub4 put in a learned codebook (ReALLM, src/train/reallm.ts): a
 * ModelTensor like an AQLM import's (src/io/aqlm/import.ts) — readVq() gives the
 * VqTensor itself, `vq` its shape for the planner, readF32() its dequantization —
 * so loadWeights runs it on the codebook kernels.
 */
function vqLayerTensor(t: ModelTensor, q: VqTensor): ModelTensor {
  if (t.shape.length !== 2 || t.shape[0] !== q.rows || t.shape[1] !== q.cols) throw new RangeError(`${t.name}: a [${q.rows}, ${q.cols}] codebook tensor for a [${t.shape.join(', ')}] tensor`);
  if (q.codebook.name !== 'learned' || q.signed || q.groupSize !== q.cols) throw new RangeError(`${t.name}: only learned tables with one scale per row and no signs are overlaid`);
  const k = Math.max(1, Math.ceil(Math.log2(q.codebook.size)));
  return {
    name: t.name,
    ggufName: t.ggufName,
    shape: [...t.shape],
    type: `AQLM 1x${k} g${q.codebook.dim}`,
    ggmlType: null,
    bytes: q.codes.byteLength + q.scale.byteLength + q.codebook.values.byteLength,
    rowOrder: null,
    async readF32() {
      return dequantizeVq(q);
    },
    async readRaw(): Promise<Uint8Array> {
      throw new RangeError(`${t.name} is a learned codebook layer (codes, table, scales), not one stored tensor; read it with readVq()`);
    },
    async readVq() {
      return q;
    },
    vq: { dim: q.codebook.dim, bits: k },
  };
}

/** `model` with `layers` (engine names) in their GGUF types, and `vqLayers` as learned codebooks; the model itself is untouched. */
export function withGgufLayers(model: LoadedModel, layers: ReadonlyMap<string, GgufLayer>, vqLayers: ReadonlyMap<string, VqTensor> = new Map()): LoadedModel {
  if (layers.size === 0 && vqLayers.size === 0) return model;
  const tensors = new Map(model.tensors);
  for (const [name, l] of layers) {
    const t = model.tensors.get(name);
    if (!t) throw new RangeError(`${model.name}: no tensor ${name} to put ${ggmlTypeName(l.type)} blocks in`);
    tensors.set(name, layerTensor(t, l));
  }
  for (const [name, q] of vqLayers) {
    const t = model.tensors.get(name);
    if (!t) throw new RangeError(`${model.name}: no tensor ${name} to put a learned codebook in`);
    tensors.set(name, vqLayerTensor(t, q));
  }
  return {
    format: model.format,
    name: model.name,
    fileBytes: model.fileBytes,
    config: model.config,
    tensors,
    tokenizer: model.tokenizer,
    tokenizerProblem: model.tokenizerProblem,
    gguf: model.gguf,
    hf: model.hf,
    close: () => model.close(),
  };
}
