// An AQLM checkpoint folder (transformers + aqlm, formats-2.md §3): the export
// format of ReALLM-style learned codebooks. Per quantized Linear,
// model.safetensors holds `<module>.codes` [O, I/d, 1] (int8 for ≤ 8-bit codes,
// int16 for ≤ 16: the smallest signed type, values ≥ 2^(k−1) stored minus 2^k as
// aqlm's pack_int_data does), `<module>.codebooks` [1, 2^k, 1, d] F16 and
// `<module>.scales` [O, 1, 1, 1] F16 (a bias, if any, comes with the plain
// tensors); every other tensor is F16; config.json is the base config plus
// quantization_config {quant_method "aqlm", in_group_size d, out_group_size 1,
// num_codebooks 1, nbits_per_codebook k, linear_weights_not_to_quantize}.
// - Which VqTensors are AQLM: a learned table (codebook.name 'learned'), no sign
//   bits, one scale per output row (groupSize = cols), zero offsets, rows a whole
//   number of vectors (I % d = 0). AQLM's config is global, so every quantized
//   layer must share d and k; anything else is refused naming the layer.
// - A table of n entries is written as 2^k entries, k = ⌈log2 n⌉ (≥ 1), the extra
//   entries zero (no code points at them).
// - W = scales[o] · codebooks[0, code, 0, :] is the VqTensor's own
//   w = scale · table[idx], so codes are copied; only the f16 rounding of the
//   table and the scales changes weights. The plan measures it: per layer the
//   largest |ŵ − w| over the largest |w|, and names the worst layer in its notes.
// - linear_weights_not_to_quantize lists every plain '.weight' tensor (embedding,
//   norms, dense linears) and lm_head.weight even when tied (transformers would
//   otherwise replace the head module with a QuantizedLinear), as the published
//   llama AQLM configs do.
// config.json is written last, so a folder that failed midway is not a model.
import { ExportError, writeExportFile, writeWholeFile, type ExportTarget } from './target.ts';
import { encodeF16, plainTensorEntries, type PlainTensor } from './plain_tensors.ts';
import { writeSafetensors, type SafetensorsWriteTensor } from '../io/safetensors/writer.ts';
import { f16Table } from '../quant/f16.ts';
import { vqGroupsPerRow, vqWordsPerRow, type VqTensor } from '../quant/vq/vqtensor.ts';

export interface AqlmExportFile {
  /** Plain file name: 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'... */
  name: string;
  read(): Promise<Uint8Array>;
}

export interface AqlmExportInput {
  /** The base model's config.json object (HF). */
  config: Record<string, unknown>;
  /** Engine linear name ('model.layers.0.self_attn.q_proj.weight') → learned-table VqTensor, HF row order. */
  linears: ReadonlyMap<string, VqTensor>;
  /** Every other tensor the model needs (written as F16). */
  tensors: readonly PlainTensor[];
  /** Copied as they are. */
  files?: readonly AqlmExportFile[];
  /** README.md text. */
  readme?: string;
}

export interface AqlmPlan {
  /** in_group_size: weights per code. */
  inGroupSize: number;
  /** nbits_per_codebook. */
  nbits: number;
  /** Linear names written as codes/codebooks/scales. */
  quantized: string[];
  /** Largest |ŵ − w| / max|w| of any layer caused by the f16 codebooks and scales, and that layer. */
  f16Error: { relative: number; layer: string };
  notes: string[];
  quantizationConfig: Record<string, unknown>;
}

export interface AqlmExportResult extends AqlmPlan {
  /** Files written, in order. */
  files: string[];
  /** Size of model.safetensors. */
  bytes: number;
}

const fail = (detail: string): never => {
  throw new ExportError('aqlm', detail);
};

/** AQLM's in_group_size values sub4 writes (VqTensor holds vectors of at most 8). */
const AQLM_DIMS = [1, 2, 4, 8, 16];

/** nbits_per_codebook for a table of `size` entries. */
const nbitsFor = (size: number) => Math.max(1, Math.ceil(Math.log2(size)));

/** Why a VqTensor cannot be an AQLM layer, or null. */
export function aqlmLayoutProblem(q: VqTensor): string | null {
  if (q.codebook.name !== 'learned') return `its codebook is the fixed '${q.codebook.name}' grid, not a learned table (export it as GGUF)`;
  if (!AQLM_DIMS.includes(q.codebook.dim)) return `vectors of ${q.codebook.dim} weights; AQLM's in_group_size here is 1, 2, 4, 8 or 16`;
  if (q.signed) return 'it has per-weight sign bits, which AQLM codes do not hold';
  if (q.groupSize !== q.cols) return `it has a scale per ${q.groupSize} weights; AQLM has one scale per output row`;
  if (q.offset.some((v) => v !== 0)) return 'it has nonzero offsets; AQLM weights are scale · codebook entry with no offset';
  if (q.cols % q.codebook.dim !== 0) return `${q.cols} inputs are not a whole number of ${q.codebook.dim}-weight vectors (AQLM asserts in_features % in_group_size == 0)`;
  if (nbitsFor(q.codebook.size) > 16) return `a table of ${q.codebook.size} entries needs more than 16-bit codes`;
  return null;
}

/** f32 → f16 bits; values beyond the f16 range are refused (they would load as ±inf). */
const toF16 = (v: Float32Array, name: string): Uint16Array => encodeF16(v, name, fail);

/** Index of vector v of row r (words at `base`), `b`-bit fields. */
const indexAt = (codes: Uint32Array, base: number, v: number, b: number) => (codes[base + ((v * b) >>> 5)] >>> ((v * b) & 31)) & ((2 ** b - 1) >>> 0);

/** Largest |ŵ − w| over largest |w| of one layer when its table and scales are rounded to f16. */
function f16RelativeError(q: VqTensor, name: string): number {
  const t = f16Table();
  const d = q.codebook.dim;
  const vals = q.codebook.values;
  const vals16 = Float32Array.from(toF16(vals, `${name} codebook`), (h) => t[h]);
  const scale16 = Float32Array.from(toF16(q.scale, `${name} scales`), (h) => t[h]);
  const wpr = vqWordsPerRow(q);
  const IG = q.cols / d;
  let maxErr = 0;
  let maxW = 0;
  for (let r = 0; r < q.rows; r++) {
    const s = q.scale[r];
    const s16 = scale16[r];
    for (let v = 0; v < IG; v++) {
      const e = indexAt(q.codes, r * wpr, v, q.indexBits) * d;
      for (let j = 0; j < d; j++) {
        const w = Math.fround(s * vals[e + j]);
        maxW = Math.max(maxW, Math.abs(w));
        maxErr = Math.max(maxErr, Math.abs(Math.fround(s16 * vals16[e + j]) - w));
      }
    }
  }
  return maxW === 0 ? 0 : maxErr / maxW;
}

/**
 * What writeAqlmFolder will write, or an ExportError naming the layer that cannot be AQLM.
 * `dense`: the names of the tensors written as they are (listed in linear_weights_not_to_quantize).
 */
export function planAqlmExport(linears: ReadonlyMap<string, VqTensor>, opts: { dense?: readonly string[] } = {}): AqlmPlan {
  if (linears.size === 0) fail('no linear layer was given to quantize');
  let first: { name: string; d: number; k: number } | null = null;
  const worst = { relative: 0, layer: '' };
  for (const [name, q] of linears) {
    if (!name.endsWith('.weight')) fail(`linear ${JSON.stringify(name)} is not a '<module>.weight' name`);
    const why = aqlmLayoutProblem(q);
    if (why) fail(`${name} cannot be an AQLM layer: ${why}`);
    if (q.scale.length !== q.rows * vqGroupsPerRow(q)) fail(`${name}: ${q.scale.length} scales for ${q.rows} rows`);
    const d = q.codebook.dim;
    const k = nbitsFor(q.codebook.size);
    if (!first) first = { name, d, k };
    else if (d !== first.d || k !== first.k)
      fail(`${name} has ${d}-weight vectors and ${k}-bit codes, but ${first.name} has ${first.d} and ${first.k}; AQLM's quantization_config is one in_group_size and nbits_per_codebook for the whole model`);
    const rel = f16RelativeError(q, name);
    if (rel > worst.relative || !worst.layer) ((worst.relative = rel), (worst.layer = name));
  }
  const { d, k } = first!;
  const keep = (opts.dense ?? []).filter((n) => n.endsWith('.weight') && !linears.has(n));
  if (!linears.has('lm_head.weight') && !keep.includes('lm_head.weight')) keep.push('lm_head.weight');
  const notes = [
    `${linears.size} layers as AQLM 1×${k}-bit codes of ${d} weights (${(k / d).toFixed(3)} bits per weight plus the tables and a scale per row)`,
    `f16 codebooks and scales: largest weight error ${worst.relative.toExponential(2)} of the layer's largest weight (${worst.layer})`,
    'no kernel of the aqlm package is specialised for this shape unless it is 1×16 or 1×8 with in_group_size 8; other shapes run the generic (Triton or dequantize) path',
  ];
  return {
    inGroupSize: d,
    nbits: k,
    quantized: [...linears.keys()],
    f16Error: worst,
    notes,
    quantizationConfig: {
      quant_method: 'aqlm',
      in_group_size: d,
      out_group_size: 1,
      num_codebooks: 1,
      nbits_per_codebook: k,
      linear_weights_not_to_quantize: keep,
    },
  };
}

/** Signed codes [O, I/d] as aqlm's pack_int_data stores them, as bytes. */
function packCodes(q: VqTensor, k: number): Uint8Array {
  const IG = q.cols / q.codebook.dim;
  const out = k <= 8 ? new Int8Array(q.rows * IG) : new Int16Array(q.rows * IG);
  const wpr = vqWordsPerRow(q);
  const half = 2 ** (k - 1);
  for (let r = 0; r < q.rows; r++)
    for (let v = 0; v < IG; v++) {
      const c = indexAt(q.codes, r * wpr, v, q.indexBits);
      out[r * IG + v] = c >= half ? c - 2 * half : c;
    }
  return new Uint8Array(out.buffer);
}

/** The table as [1, 2^k, 1, d] F16, zero-padded to 2^k entries. */
function packCodebook(q: VqTensor, k: number, name: string): Uint16Array {
  const v = new Float32Array(2 ** k * q.codebook.dim);
  v.set(q.codebook.values);
  return toF16(v, `${name} codebook`);
}

const RESERVED = ['config.json', 'model.safetensors', 'model.safetensors.index.json'];

/** Write the AQLM folder into `target`; returns the plan and the files written. */
export async function writeAqlmFolder(target: ExportTarget, input: AqlmExportInput): Promise<AqlmExportResult> {
  const plan = planAqlmExport(input.linears, { dense: input.tensors.map((t) => t.name) });
  const files = input.files ?? [];
  for (const f of files) {
    if (!/^[^/\\]+$/.test(f.name) || f.name === '.' || f.name === '..') fail(`file name ${JSON.stringify(f.name)} is not a plain file name`);
    if (RESERVED.includes(f.name) || (input.readme !== undefined && f.name === 'README.md')) fail(`${f.name} is written by the exporter itself; do not pass it as an extra file`);
  }
  if (new Set(files.map((f) => f.name)).size !== files.length) fail('an extra file is named twice');

  const k = plan.nbits;
  const d = plan.inGroupSize;
  const tensors: SafetensorsWriteTensor[] = [];
  for (const [name, q] of input.linears) {
    const m = name.slice(0, -'.weight'.length);
    tensors.push(
      { name: `${m}.codes`, dtype: k <= 8 ? 'I8' : 'I16', shape: [q.rows, q.cols / d, 1], data: () => packCodes(q, k) },
      { name: `${m}.codebooks`, dtype: 'F16', shape: [1, 2 ** k, 1, d], data: () => packCodebook(q, k, name) },
      { name: `${m}.scales`, dtype: 'F16', shape: [q.rows, 1, 1, 1], data: () => toF16(q.scale, `${name} scales`) },
    );
  }
  tensors.push(...plainTensorEntries(input.tensors, input.linears, 'F16', toF16, fail));
  // Wider dtypes first, then by name, so every tensor is naturally aligned.
  const width = (t: SafetensorsWriteTensor) => (t.dtype === 'I8' ? 1 : 2);
  tensors.sort((a, b) => width(b) - width(a) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
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
  const config: Record<string, unknown> = { ...input.config, quantization_config: plan.quantizationConfig, torch_dtype: 'float16' };
  if ('dtype' in input.config) config.dtype = 'float16'; // transformers v5's name for torch_dtype
  await writeWholeFile(target, 'config.json', `${JSON.stringify(config, null, 2)}\n`);
  written.push('config.json');
  return { ...plan, files: written, bytes };
}
