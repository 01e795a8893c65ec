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
import { encodeTensor } from './encode_tensor.ts';
import { tokenizerKv } from './tokenizer_kv.ts';
import { FILE_TYPE, tensorTypeFor, type ConvertType } from './type_policy.ts';

export interface ConvertOptions {
  type: ConvertType;
  /** general.name for a HF input (default: the folder name). */
  name?: string;
  onTensor?(index: number, total: number, name: string, type: GgmlType): void;
  /** Tensors written differently (tuned exports): their ggml type and bytes in GGUF row order; null keeps the rule. */
  override?(t: ModelTensor): { type: GgmlType; bytes(): Promise<Uint8Array> } | null;
  /** Metadata added after the converter's own (a key already present is replaced in place). */
  extraKv?: [string, GgufKv][];
}

export interface ConvertResult {
  bytes: number;
  tensors: { name: string; type: string }[];
}

const QUANT_VERSION = 2; // GGML_QNT_VERSION

async function metadata(model: LoadedModel, opts: ConvertOptions): Promise<[string, GgufKv][]> {
  const ft: [string, GgufKv] = ['general.file_type', { type: T.UINT32, value: FILE_TYPE[opts.type] }];
  const qv: [string, GgufKv] = ['general.quantization_version', { type: T.UINT32, value: QUANT_VERSION }];
  const quantized = opts.type !== 'F32' && opts.type !== 'F16';
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

export async function convertToGguf(model: LoadedModel, sink: ByteSink, opts: ConvertOptions): Promise<ConvertResult> {
  const kv = mergeKv(await metadata(model, opts), opts.extraKv);
  const c = model.config;
  // llama-quantize's order: tensors outside blocks first, then block by block, each group by name.
  const layer = (n: string) => Number(/^blk\.(\d+)\./.exec(n)?.[1] ?? -1);
  const list = [...model.tensors.values()]
    .filter((t) => t.ggufName !== null)
    .sort((a, b) => layer(a.ggufName!) - layer(b.ggufName!) || (a.ggufName! < b.ggufName! ? -1 : a.ggufName! > b.ggufName! ? 1 : 0));
  const hasOutput = list.some((t) => t.ggufName === 'output.weight');
  const permute = ggufQkInterleaved(c.architecture);
  const specs: (GgufTensorSpec & { src: (typeof list)[number]; o: ReturnType<NonNullable<ConvertOptions['override']>> })[] = list.map((t) => {
    const ne = [...t.shape].reverse();
    const o = opts.override?.(t) ?? null;
    return { name: t.ggufName!, ne, type: o?.type ?? tensorTypeFor(opts.type, t.ggufName!, ne, hasOutput), src: t, o };
  });
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
      return encodeTensor(spec.type, x);
    },
    opts.name ?? model.name,
  );
  return { bytes, tensors: specs.map((s) => ({ name: s.name, type: GgmlType[s.type] })) };
}
