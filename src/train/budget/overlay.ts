// A float model whose linear layers sub4 quantized into GGUF block types (the
// budget plan, src/train/budget/plan.ts), seen by the rest of the engine as if
// the file had stored them that way: each such ModelTensor reports the chosen
// ggmlType and its bytes, readRaw() gives the blocks (already in engine row
// order, so rowOrder is null) and readF32() their reference dequantization.
// loadWeights, createTrainable, the planner and the tuned-model export then
// treat them as GGUF-typed layers with no code of their own. Every other
// tensor (embeddings, norms, the LM head, layers left to a sub4 grid) is the
// file's, and the file's metadata (gguf/hf, tokenizer) is kept.
import type { LoadedModel, ModelTensor } from '../../io/loaded_model.ts';
import { BLOCK_FORMATS, ggmlTypeName, type GgmlType } from '../../quant/formats.ts';

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

/** `model` with `layers` (engine names) in their GGUF types; the model itself is untouched. */
export function withGgufLayers(model: LoadedModel, layers: ReadonlyMap<string, GgufLayer>): LoadedModel {
  if (layers.size === 0) return model;
  const tensors = new Map(model.tensors);
  for (const [name, l] of layers) {
    const t = model.tensors.get(name);
    if (!t) throw new RangeError(`${model.name}: no tensor ${name} to put ${ggmlTypeName(l.type)} blocks in`);
    tensors.set(name, layerTensor(t, l));
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
