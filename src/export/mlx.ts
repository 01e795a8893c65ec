// An MLX model folder (mlx-lm's layout, formats-2.md §4) from quantized, possibly
// PEQA-tuned, linear layers: model.safetensors (metadata format "mlx") with, per
// quantized Linear, `weight` U32 [out, in·bits/32], `scales` and `biases`
// [out, in/group]; every other tensor plain; config.json = the base config plus
// `quantization` {group_size, bits, mode: "affine"} (duplicated as
// `quantization_config`, as mlx-lm saves it) with per-layer overrides keyed by
// module path; the tokenizer files; and, for runs with LoRA factors, an mlx-lm
// adapter (adapters.safetensors + adapter_config.json) beside them.
// - Why it is exact: MLX dequantizes w = scales[g]·q + biases[g], which is the
//   QTensor's own w = scale·q + offset, so codes are copied and scale/offset
//   become scales/biases with no re-quantization. They are written as F32 (MLX
//   keeps scales in any float dtype): F16 would round tuned scales.
// - Codes: each row is one little-endian bit stream (element i at stream bits
//   [i·b, (i+1)·b), stream bit k = bit k % 32 of word k / 32), so 3-, 5- and
//   6-bit codes straddle words, as MLX's pack_and_quantize lays them.
// - MLX takes bits ∈ {2, 3, 4, 5, 6, 8} and group_size ∈ {32, 64, 128} with whole
//   groups. A layer outside that (stories260K's 172-wide down_proj, K-quants'
//   groups of 16) is written as the F32 of its tuned grid — the same values —
//   and named in the plan; mlx-lm's loader quantizes a module iff
//   "<path>.scales" is present (or the config names it), so such layers, the
//   embedding and the head load as plain float modules.
// - LoRA: mlx-lm stores lora_a [in, r] and lora_b [r, out] (PEFT's transposed) and
//   an absolute `scale` (= alpha / rank here); adapters go on the last
//   `num_layers` blocks and the `keys` modules; a module given no tensors keeps
//   mlx-lm's init with lora_b = 0, which adds nothing.
// config.json is written last, so a folder that failed midway is not a model.
import type { LinearRole } from '../arch/params.ts';
import { plainTensorEntries, type PlainTensor } from './plain_tensors.ts';
import { writeSafetensors, type SafetensorsWriteTensor } from '../io/safetensors/writer.ts';
import { LORA_MODULES, mixedRanks, sortedFactors, type LoraSet } from '../io/lora/set.ts';
import { dequantizeQ, groupsPerRow, type QTensor } from '../quant/qtensor.ts';
import { readRowCodes } from '../io/gptq/pack.ts';
import { checkLoraSet } from './lora_check.ts';
import { ExportError, writeExportFile, writeWholeFile, type ExportTarget } from './target.ts';

export const MLX_BITS = [2, 3, 4, 5, 6, 8] as const;
export const MLX_GROUP_SIZES = [32, 64, 128] as const;
export const MLX_ADAPTER_WEIGHTS = 'adapters.safetensors';
export const MLX_ADAPTER_CONFIG = 'adapter_config.json';

const fail = (detail: string): never => {
  throw new ExportError('mlx', detail);
};

/** Why a QTensor cannot be an MLX affine layer, or null. */
export function mlxLayoutProblem(q: Pick<QTensor, 'rows' | 'cols' | 'bits' | 'groupSize'>): string | null {
  if (!(MLX_BITS as readonly number[]).includes(q.bits)) return `${q.bits}-bit codes (MLX takes ${MLX_BITS.join(', ')} bits)`;
  if (!(MLX_GROUP_SIZES as readonly number[]).includes(q.groupSize))
    return `${q.groupSize >= q.cols ? `one group per row of ${q.cols}` : `groups of ${q.groupSize}`} (MLX takes groups of ${MLX_GROUP_SIZES.join(', ')})`;
  if (q.cols % q.groupSize !== 0) return `in_features ${q.cols} is not a multiple of the group size ${q.groupSize}`;
  return null;
}

/** U32 [rows, cols·bits/32]: each row's codes as one little-endian bit stream. */
export function packMlxWeight(q: QTensor): Uint32Array {
  const perRow = (q.cols * q.bits) / 32;
  const out = new Uint32Array(q.rows * perRow);
  const codes = new Uint8Array(q.cols);
  for (let r = 0; r < q.rows; r++) {
    readRowCodes(q, r, codes);
    const base = r * perRow;
    for (let i = 0; i < q.cols; i++) {
      const bit = i * q.bits;
      const w = bit >>> 5;
      const s = bit & 31;
      out[base + w] |= codes[i] << s;
      if (s + q.bits > 32) out[base + w + 1] |= codes[i] >>> (32 - s); // straddles into the next word
    }
  }
  return out;
}

export interface MlxPlan {
  bits: number;
  groupSize: number;
  /** config.json "quantization": defaults plus per-module overrides. */
  quantization: Record<string, unknown>;
  /** Linear weight names written as MLX affine layers. */
  packed: string[];
  /** Linear layers MLX cannot hold, written as the F32 of their grid. */
  dense: { name: string; why: string }[];
}

/** The folder's quantization config, or an ExportError when no layer can be an MLX affine layer. */
export function planMlxExport(linears: ReadonlyMap<string, QTensor>): MlxPlan {
  if (linears.size === 0) fail('no linear layer is quantized (quantize with --bits to export MLX)');
  const packed: string[] = [];
  const dense: { name: string; why: string }[] = [];
  for (const [name, q] of linears) {
    const why = mlxLayoutProblem(q);
    if (why) dense.push({ name, why });
    else packed.push(name);
  }
  if (packed.length === 0) fail(`no layer fits an MLX affine grid (${dense[0].name}: ${dense[0].why})`);
  const key = (q: QTensor) => `${q.bits}:${q.groupSize}`;
  const count = new Map<string, number>();
  for (const n of packed) count.set(key(linears.get(n)!), (count.get(key(linears.get(n)!)) ?? 0) + 1);
  const top = [...count].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  const [bits, groupSize] = top.split(':').map(Number);
  const quantization: Record<string, unknown> = { group_size: groupSize, bits, mode: 'affine' };
  for (const n of packed) {
    const q = linears.get(n)!;
    if (key(q) !== top) quantization[n.replace(/\.weight$/, '')] = { group_size: q.groupSize, bits: q.bits, mode: 'affine' };
  }
  return { bits, groupSize, quantization, packed, dense };
}

export interface MlxExportInput {
  /** The base's config.json object. */
  config: Record<string, unknown>;
  /** Quantized linear layers by HF weight name ('model.layers.0.self_attn.q_proj.weight'). */
  linears: ReadonlyMap<string, QTensor>;
  /** Every other tensor (embedding, norms, head, biases), as F32. */
  tensors: readonly PlainTensor[];
  /** Tokenizer and other files copied as they are. */
  files?: readonly { name: string; read(): Promise<Uint8Array> }[];
  lora?: { set: LoraSet; numLayers: number; base: string } | null;
  readme?: string;
}

const RESERVED = ['config.json', 'model.safetensors', 'model.safetensors.index.json', MLX_ADAPTER_WEIGHTS, MLX_ADAPTER_CONFIG, 'README.md'];

/** Write the MLX folder into `target`; returns the plan and the files written, in order. */
export async function writeMlxFolder(target: ExportTarget, input: MlxExportInput): Promise<MlxPlan & { files: string[] }> {
  const plan = planMlxExport(input.linears);
  for (const f of input.files ?? []) if (RESERVED.includes(f.name) || !/^[^/\\]+$/.test(f.name)) fail(`${f.name} cannot be passed as an extra file`);
  const tensors: SafetensorsWriteTensor[] = [];
  for (const name of plan.packed) {
    const q = input.linears.get(name)!;
    const m = name.replace(/\.weight$/, '');
    const G = groupsPerRow(q.cols, q.groupSize);
    tensors.push(
      { name: `${m}.weight`, dtype: 'U32', shape: [q.rows, (q.cols * q.bits) / 32], data: () => new Uint8Array(packMlxWeight(q).buffer) },
      { name: `${m}.scales`, dtype: 'F32', shape: [q.rows, G], data: () => q.scale },
      { name: `${m}.biases`, dtype: 'F32', shape: [q.rows, G], data: () => q.offset },
    );
  }
  for (const { name } of plan.dense) {
    const q = input.linears.get(name)!;
    tensors.push({ name, dtype: 'F32', shape: [q.rows, q.cols], data: () => dequantizeQ(q) });
  }
  tensors.push(...plainTensorEntries(input.tensors, input.linears, 'F32', (v) => v, fail));
  tensors.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (new Set(tensors.map((t) => t.name)).size !== tensors.length) fail('two tensors would share a name in model.safetensors');

  const files: string[] = [];
  await writeExportFile(target, 'model.safetensors', (sink) => writeSafetensors(sink, tensors, { metadata: { format: 'mlx' }, file: 'model.safetensors' }).then(() => {}));
  files.push('model.safetensors');
  if (input.lora) {
    await writeMlxAdapter(target, input.lora.set, input.lora.numLayers, input.lora.base);
    files.push(MLX_ADAPTER_WEIGHTS, MLX_ADAPTER_CONFIG);
  }
  for (const f of input.files ?? []) {
    await writeWholeFile(target, f.name, await f.read());
    files.push(f.name);
  }
  if (input.readme !== undefined) {
    await writeWholeFile(target, 'README.md', input.readme);
    files.push('README.md');
  }
  const config = { ...input.config, quantization: plan.quantization, quantization_config: plan.quantization };
  await writeWholeFile(target, 'config.json', `${JSON.stringify(config, null, 2)}\n`);
  files.push('config.json');
  return { ...plan, files };
}

/** [rows, cols] row-major → [cols, rows]. */
function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
  return out;
}

/** An mlx-lm LoRA adapter: adapters.safetensors (weights first) then adapter_config.json. */
export async function writeMlxAdapter(target: ExportTarget, set: LoraSet, numLayers: number, base: string): Promise<void> {
  checkLoraSet(set, 'mlx');
  if (mixedRanks(set)) fail('the factors have more than one rank (a --budget plan picks each matrix\'s), and mlx-lm\'s lora_parameters hold one: export gguf-lora, peft or merged');
  const factors = sortedFactors(set);
  const first = Math.min(...factors.map((f) => f.layer));
  if (factors.some((f) => f.layer >= numLayers)) fail(`a LoRA factor names layer ${Math.max(...factors.map((f) => f.layer))}, the model has ${numLayers}`);
  const keys = [...new Set(factors.map((f) => f.role))].map((r: LinearRole) => LORA_MODULES[r]);
  const tensors: SafetensorsWriteTensor[] = factors.flatMap((f) => {
    const p = `model.layers.${f.layer}.${LORA_MODULES[f.role]}`;
    return [
      { name: `${p}.lora_a`, dtype: 'F32' as const, shape: [f.inFeatures, set.rank], data: () => transpose(f.a, set.rank, f.inFeatures) },
      { name: `${p}.lora_b`, dtype: 'F32' as const, shape: [set.rank, f.outFeatures], data: () => transpose(f.b, f.outFeatures, set.rank) },
    ];
  });
  await writeExportFile(target, MLX_ADAPTER_WEIGHTS, (sink) => writeSafetensors(sink, tensors, { metadata: { format: 'mlx' }, file: MLX_ADAPTER_WEIGHTS }).then(() => {}));
  const config = {
    model: base,
    fine_tune_type: 'lora',
    num_layers: numLayers - first,
    lora_parameters: { rank: set.rank, dropout: 0.0, scale: set.alpha / set.rank, keys },
  };
  await writeWholeFile(target, MLX_ADAPTER_CONFIG, `${JSON.stringify(config, null, 2)}\n`);
}
