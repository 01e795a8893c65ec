// One opened model, whatever arrived: a GGUF file or a Hugging Face folder.
// Tensors are listed with engine names (HF names) and engine layout (q/k rows
// in the half-split rotary layout, src/arch/names.ts), and are read one at a
// time on demand, so a multi-GB model is never held in memory at once.
import { configFromGgufKv } from '../arch/config.ts';
import { FAMILIES } from '../arch/families.ts';
import { ggufQkInterleaved, ggufToHf, hfToGguf, qkKind, qkRowOrder, applyRowOrder } from '../arch/names.ts';
import { ggmlTypeName } from '../quant/formats.ts';
import { readGguf, readTensorBytes, readTensorF32 } from './gguf/reader.ts';
import { openHfFolder, readFolderJson, type FolderSource } from './hf_folder.ts';
import { DTYPES } from './safetensors/dtypes.ts';
import { decodeF32Into } from './safetensors/reader.ts';
import { TokenizerError } from '../base/errors.ts';
import type { ByteSource } from './source.ts';
import { tokenizerFromGguf } from './tokenizer/gguf.ts';
import { tokenizerFromHf } from './tokenizer/hf.ts';
import type { Tokenizer } from './tokenizer/types.ts';
import { applyGptqTensors } from './gptq/import.ts';
import { applyAqlmTensors } from './aqlm/import.ts';
import type { LoadedModel, ModelInput, ModelTensor } from './loaded_model.ts';

export async function openModel(input: ModelInput): Promise<LoadedModel> {
  return input.kind === 'gguf' ? openGgufModel(input.source) : openHfModel(input.folder);
}

async function openGgufModel(src: ByteSource): Promise<LoadedModel> {
  const f = await readGguf(src);
  try {
    const config = configFromGgufKv(f.kv, f.name, f.tensors.map((t) => t.name));
    const permute = ggufQkInterleaved(config.architecture);
    const tensors = new Map<string, ModelTensor>();
    for (const t of f.tensors) {
      const name = ggufToHf(t.name, config.architecture) ?? t.name;
      const shape = [...t.ne].reverse();
      const kind = qkKind(name);
      const rows = shape.length === 2 ? shape[0] : 1;
      const heads = kind === 'q' ? config.numHeads : config.numKvHeads;
      const rowOrder = permute && kind && shape.length === 2 ? qkRowOrder(rows, heads, 'gguf_to_hf') : null;
      tensors.set(name, {
        name,
        ggufName: t.name,
        shape,
        type: ggmlTypeName(t.type),
        ggmlType: t.type,
        bytes: t.nbytes,
        rowOrder,
        async readF32() {
          const v = await readTensorF32(f, t);
          return rowOrder ? applyRowOrder(v, shape[1], rowOrder) : v;
        },
        readRaw: (into) => readTensorBytes(f, t, into),
      });
    }
    let tokenizer: Tokenizer | null = null;
    let tokenizerProblem: string | null = null;
    try {
      tokenizer = tokenizerFromGguf(f.kv, f.name);
    } catch (e) {
      if (!(e instanceof TokenizerError)) throw e;
      tokenizerProblem = e.message;
    }
    return { format: 'gguf', name: f.name, fileBytes: src.size, config, tensors, tokenizer, tokenizerProblem, gguf: f, close: async () => src.close?.() };
  } catch (e) {
    await src.close?.();
    throw e;
  }
}

async function openHfModel(folder: FolderSource): Promise<LoadedModel> {
  const hf = await openHfFolder(folder);
  try {
    const tensors = new Map<string, ModelTensor>();
    // Gemma's norms multiply by 1 + w and transformers stores w; the engine (like GGUF) holds the multiplier.
    const normOffset = FAMILIES[hf.config.architecture].gemma;
    for (const [name, info] of hf.weights.tensors) {
      const bytes = info.end - info.begin;
      tensors.set(name, {
        name,
        ggufName: hfToGguf(name, hf.config.architecture),
        shape: [...info.shape],
        type: info.dtype,
        ggmlType: null,
        bytes,
        rowOrder: null,
        readF32: normOffset && /norm\.weight$/.test(name) ? async () => (await hf.weights.readTensorF32(name)).map((v) => v + 1) : () => hf.weights.readTensorF32(name),
        readRaw: (into) => hf.weights.readTensorBytes(name, undefined, into),
        // Not for Gemma's offset norms (readF32 adds the 1); they are small and go through readF32.
        ...(normOffset && /norm\.weight$/.test(name) || !DTYPES[info.dtype].toF32 ? {} : { f32Into: (raw: Uint8Array, out: Float32Array) => decodeF32Into(info, raw, out) }),
      });
    }
    await applyGptqTensors(hf, tensors); // GPTQ checkpoints: qweight/qzeros/scales/g_idx → one quantized '<module>.weight'
    await applyAqlmTensors(hf, tensors); // AQLM checkpoints: codes/codebooks/scales → one codebook '<module>.weight'
    let fileBytes = 0;
    for (const file of hf.weightFiles) {
      const s = await folder.open(file);
      fileBytes += s.size;
      await s.close?.();
    }
    const files = new Set(folder.list());
    let tokenizer: Tokenizer | null = null;
    let tokenizerProblem: string | null = null;
    if (!files.has('tokenizer.json')) tokenizerProblem = `${folder.name}: no tokenizer.json in the folder`;
    else {
      const err = (file: string, detail: string) => new TokenizerError(file, detail);
      try {
        tokenizer = tokenizerFromHf({
          tokenizerJson: (await readFolderJson(folder, 'tokenizer.json', err)) as object,
          tokenizerConfig: files.has('tokenizer_config.json') ? ((await readFolderJson(folder, 'tokenizer_config.json', err)) as object) : undefined,
          generationConfig: files.has('generation_config.json') ? ((await readFolderJson(folder, 'generation_config.json', err)) as object) : undefined,
          name: folder.name,
        });
      } catch (e) {
        if (!(e instanceof TokenizerError)) throw e;
        tokenizerProblem = e.message;
      }
    }
    return { format: 'hf', name: folder.name, fileBytes, config: hf.config, tensors, tokenizer, tokenizerProblem, hf, close: () => hf.close() };
  } catch (e) {
    await hf.close();
    throw e;
  }
}
