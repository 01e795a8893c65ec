// A GPTQ checkpoint folder (formats.md §4, safetensors §6) from sub4-quantized,
// possibly PEQA-tuned, linear layers: config.json (the base config plus
// quantization_config), quantize_config.json (the same, for AutoGPTQ-era
// loaders), model.safetensors with qweight/qzeros/scales/g_idx per quantized
// layer and F16 for everything else, plus the tokenizer files and a README.
// - Codes are written untouched; scales are rounded to f16 (the format's type).
// - Layers GPTQ cannot pack (in·bits or out·bits not whole int32 words, `in` not a
//   multiple of the group: stories260K's 172-wide MLP) are written as the F16 of
//   their tuned grid and excluded with GPTQModel/vLLM's negative `dynamic` match,
//   so loaders keep them as plain Linear layers; the caller gets the list.
// - Layers whose bits/group differ from the majority get a positive `dynamic`
//   override ("+:regex": {bits, group_size}).
// - v1 ('gptq') by default when every zero point is ≥ 1 (the widest loader
//   support), else gptq_v2 (v1 stores z − 1 and cannot hold z = 0).
// Tensor data is produced lazily while the file streams, so the model is never
// held twice; config.json is written last, so a folder that failed midway does
// not look like a loadable model.
import { ExportError, writeExportFile, writeWholeFile, type ExportTarget } from '../target.ts';
import { encodeF16, plainTensorEntries, type PlainTensor } from '../plain_tensors.ts';
import { writeSafetensors, type SafetensorsWriteTensor } from '../../io/safetensors/writer.ts';
import { dequantizeQ, groupsPerRow, type QTensor } from '../../quant/qtensor.ts';
import { gptqGIdx, gptqGroupSize, gptqLayoutProblem, isGptqBits, packQweight, packQzeros, packScales, type GptqFormat } from '../../io/gptq/pack.ts';
import { gptqZeroPoints } from './check.ts';

export interface GptqExportFile {
  /** Plain file name: 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'... */
  name: string;
  read(): Promise<Uint8Array>;
}

export interface GptqExportInput {
  /** The base model's config.json object (HF). */
  config: Record<string, unknown>;
  /** Engine linear name ('model.layers.0.self_attn.q_proj.weight') → tuned QTensor, HF row order. */
  linears: ReadonlyMap<string, QTensor>;
  /** Every other tensor the model needs (written as F16). */
  tensors: readonly PlainTensor[];
  /** Copied as they are. */
  files?: readonly GptqExportFile[];
  /** Default: 'gptq' when every zero point is ≥ 1, else 'gptq_v2'. */
  format?: GptqFormat;
  /** README.md text. */
  readme?: string;
}

export interface GptqDenseLayer {
  name: string;
  why: string;
}

export interface GptqPlan {
  format: GptqFormat;
  bits: number;
  /** −1: one group per row. */
  groupSize: number;
  sym: boolean;
  /** Linear names written as qweight/qzeros/scales/g_idx. */
  packed: string[];
  /** Linear layers written as dense F16 (and excluded in quantization_config.dynamic). */
  dense: GptqDenseLayer[];
  quantizationConfig: Record<string, unknown>;
}

export interface GptqExportResult extends GptqPlan {
  /** Files written, in order. */
  files: string[];
  /** Size of model.safetensors. */
  bytes: number;
}

interface PlanDetail extends GptqPlan {
  zeros: Map<string, Int32Array>;
}

const fail = (detail: string): never => {
  throw new ExportError('gptq', detail);
};

/** The most frequent value (first seen wins ties). */
function majority<T>(values: T[]): T {
  const count = new Map<T, number>();
  for (const v of values) count.set(v, (count.get(v) ?? 0) + 1);
  let best = values[0];
  for (const [v, n] of count) if (n > count.get(best)!) best = v;
  return best;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const alt = (xs: string[]) => (xs.length === 1 ? xs[0] : `(?:${xs.join('|')})`);
// vLLM matches `dynamic` against its fused modules (qkv_proj, gate_up_proj), so a
// pattern that excludes all of a fused module's parts names the fused module too.
const FUSED: [string, string[]][] = [
  ['self_attn.qkv_proj', ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj']],
  ['mlp.gate_up_proj', ['mlp.gate_proj', 'mlp.up_proj']],
];

/**
 * Regexes (Python `re.match` semantics, as GPTQModel and vLLM apply them) covering exactly the given
 * module prefixes: one per distinct set of layers, with `\d+` when a role is in every layer.
 */
export function modulePatterns(prefixes: readonly string[], numLayers: number | null): string[] {
  const bySuffix = new Map<string, number[]>();
  const out: string[] = [];
  for (const p of prefixes) {
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(p);
    if (!m) out.push(`${escapeRe(p)}$`);
    else bySuffix.set(m[2], [...(bySuffix.get(m[2]) ?? []), Number(m[1])]);
  }
  const byLayers = new Map<string, string[]>();
  for (const [suffix, layers] of bySuffix) {
    const key = [...new Set(layers)].sort((a, b) => a - b).join(',');
    byLayers.set(key, [...(byLayers.get(key) ?? []), suffix]);
  }
  for (const [key, suffixes] of byLayers) {
    const layers = key.split(',');
    const all = [...suffixes];
    for (const [fused, parts] of FUSED) if (parts.every((p) => suffixes.includes(p))) all.push(fused);
    const layerRe = numLayers !== null && layers.length === numLayers ? '\\d+' : alt(layers);
    out.push(`model\\.layers\\.${layerRe}\\.${alt(all.map(escapeRe))}$`);
  }
  return out;
}

function planDetail(linears: ReadonlyMap<string, QTensor>, format: GptqFormat | undefined, numLayers: number | null): PlanDetail {
  const dense: GptqDenseLayer[] = [];
  const zeros = new Map<string, Int32Array>();
  const packedQ: [string, QTensor][] = [];
  for (const [name, q] of linears) {
    if (!name.endsWith('.weight')) fail(`linear ${JSON.stringify(name)} is not a '<module>.weight' name`);
    if (!isGptqBits(q.bits)) fail(`${name} has ${q.bits}-bit codes; GPTQ loaders take 2, 3, 4 or 8 bits (export ${q.bits}-bit grids as GGUF)`);
    if (name === 'lm_head.weight') {
      dense.push({ name, why: 'the LM head stays unquantized in GPTQ (quantization_config lm_head: false)' });
      continue;
    }
    const why = gptqLayoutProblem(q);
    if (why) {
      dense.push({ name, why });
      continue;
    }
    zeros.set(name, gptqZeroPoints(q, name));
    packedQ.push([name, q]);
  }
  if (packedQ.length === 0)
    fail(`no linear layer can be packed as GPTQ (${dense.map((d) => `${d.name}: ${d.why}`).join('; ') || 'none were given'})`);
  const hasZero = [...zeros].find(([, z]) => z.includes(0));
  if (format === 'gptq' && hasZero)
    fail(`${hasZero[0]}: a group has zero point 0, which v1 GPTQ ('gptq', stores z − 1) cannot hold without corrupting its neighbours in qzeros; export with format gptq_v2`);
  const fmt: GptqFormat = format ?? (hasZero ? 'gptq_v2' : 'gptq');

  // One config-wide bits/group_size; layers that differ are overridden in `dynamic`.
  // A layer with one group fits either −1 or its own width; prefer what most layers need.
  const bits = majority(packedQ.map(([, q]) => q.bits as number));
  const groupChoices = packedQ.map(([, q]) => (gptqGroupSize(q) === -1 ? [-1, q.cols] : [q.groupSize]));
  const candidates = [...new Set(groupChoices.flat())];
  const fits = (gs: number) => groupChoices.filter((c) => c.includes(gs)).length;
  const groupSize = candidates.reduce((a, b) => (fits(b) > fits(a) || (fits(b) === fits(a) && b === -1) ? b : a));
  const sym = packedQ.every(([name, q]) => zeros.get(name)!.every((z) => z === 1 << (q.bits - 1)));

  const dynamic: Record<string, Record<string, number>> = {};
  const prefix = (n: string) => n.slice(0, -'.weight'.length);
  for (const re of modulePatterns(dense.map((d) => prefix(d.name)).filter((p) => p !== 'lm_head'), numLayers)) dynamic[`-:${re}`] = {};
  const overrides = new Map<string, string[]>();
  packedQ.forEach(([name, q], i) => {
    if (q.bits === bits && groupChoices[i].includes(groupSize)) return;
    const key = JSON.stringify({ bits: q.bits, group_size: gptqGroupSize(q) });
    overrides.set(key, [...(overrides.get(key) ?? []), prefix(name)]);
  });
  for (const [key, names] of overrides) for (const re of modulePatterns(names, numLayers)) dynamic[`+:${re}`] = JSON.parse(key);

  const quantizationConfig: Record<string, unknown> = {
    quant_method: 'gptq',
    bits,
    group_size: groupSize,
    desc_act: false,
    sym,
    checkpoint_format: fmt,
    format: fmt,
    damp_percent: 0.01,
    lm_head: false,
    pack_dtype: 'int32',
    meta: { quantizer: ['sub4'] },
  };
  if (Object.keys(dynamic).length) quantizationConfig.dynamic = dynamic;
  return { format: fmt, bits, groupSize, sym, packed: packedQ.map(([n]) => n), dense, quantizationConfig, zeros };
}

/** What writeGptqFolder will write, or an ExportError naming the layer that cannot be exported. */
export function planGptqExport(linears: ReadonlyMap<string, QTensor>, opts: { format?: GptqFormat; numLayers?: number | null } = {}): GptqPlan {
  const { zeros: _, ...plan } = planDetail(linears, opts.format, opts.numLayers ?? null);
  return plan;
}

/** f32 → f16 bits; values beyond the f16 range are refused (they would load as ±inf). */
const toF16 = (v: Float32Array, name: string): Uint16Array => encodeF16(v, name, fail);

const RESERVED = ['config.json', 'quantize_config.json', 'model.safetensors', 'model.safetensors.index.json'];

/** Write the GPTQ folder into `target`; returns the plan and the files written. */
export async function writeGptqFolder(target: ExportTarget, input: GptqExportInput): Promise<GptqExportResult> {
  const nl = input.config.num_hidden_layers;
  const plan = planDetail(input.linears, input.format, typeof nl === 'number' && Number.isInteger(nl) ? nl : null);
  const files = input.files ?? [];
  for (const f of files) {
    if (!/^[^/\\]+$/.test(f.name) || f.name === '.' || f.name === '..') fail(`file name ${JSON.stringify(f.name)} is not a plain file name`);
    if (RESERVED.includes(f.name) || (input.readme !== undefined && f.name === 'README.md')) fail(`${f.name} is written by the exporter itself; do not pass it as an extra file`);
  }
  if (new Set(files.map((f) => f.name)).size !== files.length) fail('an extra file is named twice');

  const tensors: SafetensorsWriteTensor[] = [];
  for (const name of plan.packed) {
    const q = input.linears.get(name)!;
    const m = name.slice(0, -'.weight'.length);
    const G = groupsPerRow(q.cols, q.groupSize);
    const z = plan.zeros.get(name)!;
    tensors.push(
      { name: `${m}.qweight`, dtype: 'I32', shape: [(q.cols * q.bits) / 32, q.rows], data: () => packQweight(q) },
      { name: `${m}.qzeros`, dtype: 'I32', shape: [G, (q.rows * q.bits) / 32], data: () => packQzeros(z, q.rows, G, q.bits, plan.format) },
      { name: `${m}.scales`, dtype: 'F16', shape: [G, q.rows], data: () => packScales(q) },
      { name: `${m}.g_idx`, dtype: 'I32', shape: [q.cols], data: () => gptqGIdx(q.cols, q.groupSize) },
    );
  }
  for (const { name } of plan.dense) {
    const q = input.linears.get(name)!;
    tensors.push({ name, dtype: 'F16', shape: [q.rows, q.cols], data: () => toF16(dequantizeQ(q), name) });
  }
  tensors.push(...plainTensorEntries(input.tensors, input.linears, 'F16', toF16, fail));
  // As the reference writer orders them (wider dtypes first, then by name), so every tensor is naturally aligned.
  tensors.sort((a, b) => (a.dtype === b.dtype ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.dtype === 'I32' ? -1 : 1));
  if (new Set(tensors.map((t) => t.name)).size !== tensors.length) fail('two tensors would share a name in model.safetensors');

  const written: string[] = [];
  let bytes = 0;
  await writeExportFile(target, 'model.safetensors', async (sink) => {
    bytes = await writeSafetensors(sink, tensors, { metadata: { format: 'pt' }, file: 'model.safetensors' });
  });
  written.push('model.safetensors');
  for (const f of files) {
    await writeWholeFile(target, f.name, await f.read());
    written.push(f.name);
  }
  if (input.readme !== undefined) {
    await writeWholeFile(target, 'README.md', input.readme);
    written.push('README.md');
  }
  const qc = plan.quantizationConfig;
  await writeWholeFile(target, 'quantize_config.json', `${JSON.stringify(qc, null, 2)}\n`);
  written.push('quantize_config.json');
  const config: Record<string, unknown> = { ...input.config, quantization_config: qc, torch_dtype: 'float16' };
  if ('dtype' in input.config) config.dtype = 'float16'; // transformers v5's name for torch_dtype
  await writeWholeFile(target, 'config.json', `${JSON.stringify(config, null, 2)}\n`);
  written.push('config.json');
  const { zeros: _, ...pub } = plan;
  return { ...pub, files: written, bytes };
}
