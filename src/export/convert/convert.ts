// Write a GGUF of one type from any loaded model (a Hugging Face folder or
// another GGUF), streaming one tensor at a time into a sink. Metadata of a GGUF
// input is carried over in order (file type updated); a HF input gets the
// hyper-parameters and tokenizer llama.cpp's converter would write.
import { permuteQK, ggufQkInterleaved, qkKind } from '../../arch/names.ts';
import { GgmlType } from '../../quant/formats.ts';
import { readFolderJson } from '../../io/hf_folder.ts';
import { TokenizerError } from '../../base/errors.ts';
import { GgufValueType as T, type GgufKv } from '../../io/gguf/types.ts';
import { writeGguf, type ByteSink, type GgufTensorSpec } from '../../io/gguf/writer.ts';
import type { LoadedModel, ModelTensor } from '../../io/loaded_model.ts';
import { configKv } from './config_kv.ts';
import { Sub4Error } from '../../base/errors.ts';
import { quantizeRequiresImatrix } from '../../quant/quantize/ggml_quantize.ts';
import { quantizeTensor, type TensorQuantizer } from './encode_tensor.ts';
import { LLAMA_FTYPE, planTensorTypes, resolveTypeChoice, tensorRequiresImatrix, type TypeChoice } from './ftype_mix.ts';
import { tokenizerKv } from './tokenizer_kv.ts';

/** A tensor's target type needs an importance matrix and none was given for it (llama-quantize refuses too). */
export class ImatrixNeededError extends Sub4Error {
  constructor(
    readonly tensor: string,
    readonly type: string,
    readonly hadImatrix: boolean,
  ) {
    super(
      hadImatrix
        ? `${tensor} is to be quantized to ${type}, which needs an importance matrix, and the file given to --imatrix has no entry for it`
        : `${tensor} is to be quantized to ${type}, which needs an importance matrix: pass one with --imatrix <file>`,
    );
  }
}

/** The importance matrix does not fit a tensor (llama-quantize: "imatrix size … is different from tensor size"). */
export class ImatrixSizeError extends Sub4Error {
  constructor(tensor: string, got: number, want: number) {
    super(`importance matrix for ${tensor} has ${got} values, the tensor needs ${want} (columns × experts)`);
  }
}

export interface ConvertOptions {
  /** A llama-quantize file type (Q4_K_M, IQ2_M, Q8_0, …) or, with `pure` or when the name is only a ggml type (Q4_K, …), one ggml type for every quantizable tensor. */
  type: string;
  /** llama-quantize --pure: no per-tensor mix, only the shape fallback. */
  pure?: boolean;
  /** Per-column importance weights (imatrix in_sum2/counts) of a tensor by GGUF name, or null when there are none for it. */
  importance?: (ggufName: string, cols: number) => Float32Array | null;
  /** general.name for a HF input (default: the folder name). */
  name?: string;
  onTensor?(index: number, total: number, name: string, type: GgmlType): void;
  /** Tensors written differently (tuned exports): their ggml type and bytes in GGUF row order; null keeps the rule. */
  override?(t: ModelTensor): { type: GgmlType; bytes(): Promise<Uint8Array> } | null;
  /** GGUF name → ggml type, replacing the file type's choice for that tensor (a bit-budget plan's per-matrix types). */
  types?: ReadonlyMap<string, GgmlType>;
  /** The quantizer of each tensor: ggmlQuantize (default) or a worker pool's (src/quant/quantize/pool.ts), same bytes. */
  quantize?: TensorQuantizer;
  /** Metadata added after the converter's own (a key already present is replaced in place). */
  extraKv?: [string, GgufKv][];
}

export interface ConvertResult {
  bytes: number;
  tensors: { name: string; type: string }[];
}

const QUANT_VERSION = 2; // GGML_QNT_VERSION

/** The type choice for `type` / `pure`, or a RangeError naming the type. */
export function convertTypeChoice(type: string, pure = false): TypeChoice {
  const c = resolveTypeChoice(type, pure);
  if (!c) throw new RangeError(`sub4 convert: unknown type ${JSON.stringify(type)}`);
  return c;
}

async function metadata(model: LoadedModel, opts: ConvertOptions, choice: TypeChoice): Promise<[string, GgufKv][]> {
  const ft: [string, GgufKv] = ['general.file_type', { type: T.UINT32, value: LLAMA_FTYPE[choice.ftype] }];
  const qv: [string, GgufKv] = ['general.quantization_version', { type: T.UINT32, value: QUANT_VERSION }];
  const quantized = choice.ftype !== 'F32' && choice.ftype !== 'F16' && choice.ftype !== 'BF16';
  if (model.gguf) {
    const kv = [...model.gguf.kv].filter(([k]) => k !== 'general.quantization_version' && k !== 'general.file_type');
    // llama.cpp writes general.quantization_version right after general.name-like keys; order does not affect loading.
    return [...kv, ...(quantized ? [qv] : []), ft];
  }
  const hf = model.hf!;
  const err = (file: string, detail: string) => new TokenizerError(file, detail);
  const files = new Set(hf.folder.list());
  if (!files.has('tokenizer.json')) throw new TokenizerError(hf.folder.name, 'a GGUF needs the tokenizer: no tokenizer.json in the folder');
  const tj = (await readFolderJson(hf.folder, 'tokenizer.json', err)) as Record<string, unknown>;
  const tc = files.has('tokenizer_config.json') ? ((await readFolderJson(hf.folder, 'tokenizer_config.json', err)) as Record<string, unknown>) : undefined;
  return [...configKv(model.config, opts.name ?? hf.folder.name, `${hf.folder.name}/config.json`), ...(quantized ? [qv] : []), ft, ...tokenizerKv(tj, tc, `${hf.folder.name}/tokenizer.json`)];
}

/** Base metadata with `extra` merged in: same keys replaced where they stand, new keys appended. */
export function mergeKv(kv: [string, GgufKv][], extra: readonly [string, GgufKv][] = []): [string, GgufKv][] {
  const add = new Map(extra);
  const out = kv.map(([k, v]): [string, GgufKv] => [k, add.get(k) ?? v]);
  for (const [k, v] of extra) if (!kv.some(([key]) => key === k)) out.push([k, v]);
  return out;
}

const FLOAT_TYPES = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16]);

export async function convertToGguf(model: LoadedModel, sink: ByteSink, opts: ConvertOptions): Promise<ConvertResult> {
  const choice = convertTypeChoice(opts.type, opts.pure);
  const c = model.config;
  // llama-quantize's order: tensors outside blocks first, then block by block, each group by name.
  const layer = (n: string) => Number(/^blk\.(\d+)\./.exec(n)?.[1] ?? -1);
  const list = [...model.tensors.values()]
    .filter((t) => t.ggufName !== null)
    .sort((a, b) => layer(a.ggufName!) - layer(b.ggufName!) || (a.ggufName! < b.ggufName! ? -1 : a.ggufName! > b.ggufName! ? 1 : 0));
  const permute = ggufQkInterleaved(c.architecture);
  const nes = list.map((t) => [...t.shape].reverse());
  // llama-quantize's choice (llama_tensor_get_type for each tensor, in this order); null: not quantizable.
  const planned = planTensorTypes(
    list.map((t, i) => ({ name: t.ggufName!, ne: nes[i] })),
    choice,
    { arch: c.architecture, nLayer: c.numLayers, nHead: c.numHeads, nHeadKv: c.numKvHeads },
    { hasImatrix: !!opts.importance },
  );
  const specs: (GgufTensorSpec & { src: (typeof list)[number]; o: ReturnType<NonNullable<ConvertOptions['override']>>; weights: Float32Array | null })[] = list.map((t, i) => {
    const ne = nes[i];
    const o = opts.override?.(t) ?? null;
    let type = opts.types?.get(t.ggufName!) ?? planned[i];
    if (type === null) {
      // Not quantizable (norms, 1-D tensors, …): llama-quantize copies the stored type; vectors are F32
      // as llama.cpp's converter writes them, and a float-type file keeps its type for 2-D ones.
      const oneD = ne.slice(1).every((d) => d === 1) || t.ggufName!.endsWith('_norm.weight');
      type = oneD ? GgmlType.F32 : FLOAT_TYPES.has(choice.defaultType) ? choice.defaultType : (t.ggmlType ?? GgmlType.F32);
    }
    return { name: t.ggufName!, ne, type: o?.type ?? type, src: t, o, weights: null };
  });
  // Importance weights, and the refusal of a tensor that needs them and has none — all before anything is written
  // (llama-quantize: the imatrix lookup by name and size check of its main loop, tensor_requires_imatrix).
  for (const s of specs) {
    if (s.o || FLOAT_TYPES.has(s.type)) continue;
    // Copied as stored (same type): llama-quantize then reads no imatrix entry, but with no imatrix at all
    // its preliminary loop still refuses a type that needs one.
    const copied = model.format === 'gguf' && s.src.ggmlType === s.type;
    if (copied && opts.importance) continue;
    const cols = s.ne[0];
    const experts = s.ne.slice(2).reduce((a, b) => a * b, 1);
    let w = copied ? null : (opts.importance?.(s.name, cols) ?? null);
    if (w && w.length !== cols && w.length !== cols * experts) {
      // llama.cpp ignores a wrong-sized entry for token_embd and aborts for anything else.
      if (!/^(per_layer_)?token_embd\.weight$/.test(s.name)) throw new ImatrixSizeError(s.name, w.length, cols * experts);
      w = null;
    }
    s.weights = w;
    if (!w && (tensorRequiresImatrix(s.name, s.type, choice.ftype) || quantizeRequiresImatrix(s.type)))
      throw new ImatrixNeededError(s.name, GgmlType[s.type], !!opts.importance);
  }
  const kv = mergeKv(await metadata(model, opts, choice), opts.extraKv);
  const bytes = await writeGguf(
    sink,
    kv,
    specs,
    async (spec, i) => {
      const t = specs[i].src;
      opts.onTensor?.(i, specs.length, spec.name, spec.type);
      if (specs[i].o) return specs[i].o!.bytes();
      // Same type as stored and already in GGUF row order: copy the bytes, no re-quantization.
      if (model.format === 'gguf' && t.ggmlType === spec.type) return t.readRaw();
      let x = await t.readF32();
      const kind = qkKind(t.name);
      if (permute && kind && t.shape.length === 2) x = permuteQK(x, t.shape[0], t.shape[1], kind === 'q' ? c.numHeads : c.numKvHeads);
      return quantizeTensor(spec.type, x, spec.ne, specs[i].weights, opts.quantize);
    },
    opts.name ?? model.name,
  );
  return { bytes, tensors: specs.map((s) => ({ name: s.name, type: GgmlType[s.type] })) };
}
