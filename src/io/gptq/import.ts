// Loading a GPTQ checkpoint folder (formats.md §4) into sub4: each quantized
// Linear's qweight/qzeros/scales/g_idx become one ModelTensor '<module>.weight'
// of shape [out, in] whose readQ() gives the QTensor (codes untouched, f16
// scales, offset = −Z·scale) and whose readF32() dequantizes it. The model then
// runs through qlinear and PEQA trains its scales like any sub4-quantized layer.
// Per layer, bits and groups are read from the tensor shapes (so GPTQModel's
// per-module `dynamic` overrides need no regex evaluation on untrusted input)
// and checked against quantization_config when it has no overrides.
// Refused with typed errors naming the file: act-order checkpoints (desc_act with
// permuted g_idx), bit widths other than 2/3/4/8, packings other than int32,
// checkpoint formats other than gptq/gptq_v2, and any malformed tensor.
import { ConfigError, UnsupportedError } from '../../base/errors.ts';
import { readFolderJson, type HfModelFolder } from '../hf_folder.ts';
import type { ModelTensor } from '../loaded_model.ts';
import type { SafetensorsTensorInfo } from '../safetensors/header.ts';
import { hfToGguf } from '../../arch/names.ts';
import { dequantizeQ, type QTensor } from '../../quant/qtensor.ts';
import { GptqError, isGptqBits, unpackGptq, type GptqFormat } from './pack.ts';

export interface GptqQuantConfig {
  bits: number;
  /** −1: one group per row; null when the config does not say (then read from the shapes). */
  groupSize: number | null;
  descAct: boolean;
  format: GptqFormat;
  /** The config has per-module `dynamic` overrides: layers may differ from bits/group_size. */
  dynamic: boolean;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The GPTQ settings of a quantization_config object; `file` names it in errors. */
export function parseGptqConfig(qc: Record<string, unknown>, file: string): GptqQuantConfig {
  const bits = qc.bits;
  if (typeof bits !== 'number' || !Number.isInteger(bits)) throw new ConfigError(file, `quantization_config.bits is ${JSON.stringify(bits)}, not an integer`);
  if (!isGptqBits(bits)) throw new UnsupportedError(file, `${bits}-bit GPTQ; sub4 reads 2, 3, 4 and 8-bit GPTQ checkpoints`);
  const gs = qc.group_size;
  if (gs !== undefined && (typeof gs !== 'number' || !Number.isInteger(gs) || (gs !== -1 && gs < 1)))
    throw new ConfigError(file, `quantization_config.group_size is ${JSON.stringify(gs)}; it must be −1 or a positive integer`);
  const descAct = qc.desc_act ?? false;
  if (typeof descAct !== 'boolean') throw new ConfigError(file, `quantization_config.desc_act is ${JSON.stringify(descAct)}, not true/false`);
  const format = qc.checkpoint_format ?? qc.format ?? 'gptq';
  if (format !== 'gptq' && format !== 'gptq_v2')
    throw new UnsupportedError(file, `GPTQ checkpoint_format ${JSON.stringify(format)}; sub4 reads 'gptq' and 'gptq_v2' (repack kernel-specific formats such as marlin first)`);
  const pack = qc.pack_dtype ?? 'int32';
  if (pack !== 'int32' && pack !== 'torch.int32') throw new UnsupportedError(file, `GPTQ pack_dtype ${JSON.stringify(pack)}; sub4 reads int32 packing only`);
  return { bits, groupSize: (gs as number | undefined) ?? null, descAct, format, dynamic: isObj(qc.dynamic) && Object.keys(qc.dynamic).length > 0 };
}

/** The folder's GPTQ config: config.json's quantization_config, else quantize_config.json (AutoGPTQ); null when not GPTQ. */
async function gptqConfigOf(hf: HfModelFolder, hasQweight: boolean): Promise<GptqQuantConfig | null> {
  const qc = hf.configJson.quantization_config;
  const cfgFile = `${hf.folder.name}/config.json`;
  if (isObj(qc)) return qc.quant_method === 'gptq' ? parseGptqConfig(qc, cfgFile) : null;
  if (!hasQweight) return null;
  if (!hf.folder.list().includes('quantize_config.json'))
    throw new ConfigError(cfgFile, 'the weights are GPTQ-packed (qweight tensors), but there is no quantization_config here and no quantize_config.json');
  const file = 'quantize_config.json';
  const json = await readFolderJson(hf.folder, file, (f, d) => new ConfigError(f, d));
  if (!isObj(json)) throw new ConfigError(`${hf.folder.name}/${file}`, 'not a JSON object');
  return parseGptqConfig(json, `${hf.folder.name}/${file}`);
}

type Info = SafetensorsTensorInfo & { readonly file: string };

/** Int32 view of little-endian bytes (copied when not 4-aligned). */
const asI32 = (b: Uint8Array) => (b.byteOffset % 4 === 0 ? new Int32Array(b.buffer, b.byteOffset, b.length / 4) : new Int32Array(b.slice().buffer));

interface Layer {
  prefix: string;
  bits: number;
  groupSize: number;
  inF: number;
  outF: number;
  file: string;
  parts: { qweight: Info; qzeros: Info; scales: Info; g_idx: Info | null };
}

/** Shapes and dtypes of one layer's tensors → its geometry, or a typed error naming the file and tensor. */
function layerOf(prefix: string, get: (n: string) => Info | undefined, cfg: GptqQuantConfig, folder: string): Layer {
  const qweight = get(`${prefix}.qweight`)!;
  const file = `${folder}/${qweight.file}`;
  const bad = (tensor: string, detail: string): never => {
    throw new GptqError(file, `${prefix}.${tensor}: ${detail}`);
  };
  const need = (suffix: string, dtypes: readonly string[], rank: number): Info => {
    const t = get(`${prefix}.${suffix}`) ?? bad(suffix, `missing (a GPTQ layer needs qweight, qzeros and scales)`);
    if (!dtypes.includes(t.dtype)) bad(suffix, `dtype ${t.dtype}; expected ${dtypes.join(' or ')}`);
    if (t.shape.length !== rank || t.shape.some((d) => d < 1)) bad(suffix, `shape [${t.shape.join(', ')}]; expected ${rank} non-empty dimension${rank > 1 ? 's' : ''}`);
    return t;
  };
  need('qweight', ['I32'], 2);
  const qzeros = need('qzeros', ['I32'], 2);
  const scales = need('scales', ['F16', 'BF16', 'F32'], 2);
  const g_idx = get(`${prefix}.g_idx`) ? need('g_idx', ['I32'], 1) : null;
  const [packedIn, O] = qweight.shape;
  const [G, zc] = qzeros.shape;
  if (scales.shape[1] !== O) bad('scales', `has ${scales.shape[1]} columns, qweight has ${O} outputs`);
  if (scales.shape[0] !== G) bad('scales', `has ${scales.shape[0]} groups, qzeros has ${G}`);
  const bits = (zc * 32) / O;
  if (!isGptqBits(bits)) bad('qzeros', `[${G}, ${zc}] for ${O} outputs implies ${bits} bits per zero point, not 2, 3, 4 or 8`);
  if (bits !== cfg.bits && !cfg.dynamic) bad('qzeros', `packs ${bits}-bit zero points, but quantization_config.bits is ${cfg.bits}`);
  const I = (packedIn * 32) / bits;
  if (!Number.isInteger(I)) bad('qweight', `${packedIn} rows do not hold a whole number of ${bits}-bit inputs (3-bit packs 32 inputs in 3 words)`);
  if (g_idx && g_idx.shape[0] !== I) bad('g_idx', `has ${g_idx.shape[0]} entries, qweight packs ${I} inputs`);
  // Group size: one group → per-channel; else the config's when it matches, else what the shapes imply.
  let gs: number;
  if (G === 1) gs = -1;
  else if (cfg.groupSize !== null && cfg.groupSize > 0 && Math.ceil(I / cfg.groupSize) === G) gs = cfg.groupSize;
  else if ((cfg.dynamic || cfg.groupSize === null) && I % G === 0) gs = I / G;
  else gs = bad('scales', `has ${G} groups, which group_size ${cfg.groupSize} does not give for ${I} inputs`);
  return { prefix, bits, groupSize: gs, inF: I, outF: O, file, parts: { qweight, qzeros, scales, g_idx } };
}

/**
 * If the folder is a GPTQ checkpoint, replace each layer's GPTQ tensors in `tensors`
 * (as openHfModel listed them) by one quantized '<module>.weight'. No-op otherwise.
 */
export async function applyGptqTensors(hf: HfModelFolder, tensors: Map<string, ModelTensor>): Promise<GptqQuantConfig | null> {
  const infos = hf.weights.tensors;
  const prefixes = [...infos.keys()].filter((n) => n.endsWith('.qweight')).map((n) => n.slice(0, -'.qweight'.length));
  const cfg = await gptqConfigOf(hf, prefixes.length > 0);
  if (!cfg) return null;
  const store = hf.weights;
  for (const prefix of prefixes) {
    const L = layerOf(prefix, (n) => infos.get(n), cfg, hf.folder.name);
    const name = `${prefix}.weight`;
    if (infos.has(name)) throw new GptqError(L.file, `${prefix} has both a dense .weight and GPTQ tensors`);
    const { qweight, qzeros, scales, g_idx } = L.parts;
    const readGIdx = async () => (g_idx ? asI32(await store.readTensorBytes(g_idx.name)) : null);
    if (cfg.descAct && g_idx) {
      // Act-order checkpoints permute inputs across groups: refuse at open, not at first use.
      const gi = (await readGIdx())!;
      const gs = L.groupSize === -1 ? L.inF : L.groupSize;
      const i = gi.findIndex((v, k) => v !== Math.floor(k / gs));
      if (i >= 0)
        throw new UnsupportedError(L.file, `${prefix}.g_idx: desc_act (act-order) checkpoint — input ${i} is in group ${gi[i]}, not ${Math.floor(i / gs)}; sub4 reads only GPTQ with in-order groups (desc_act=false)`);
    }
    const readQ = async (): Promise<QTensor> => {
      const sb = await store.readTensorBytes(scales.name);
      const sv = scales.dtype === 'F16' ? (sb.byteOffset % 2 === 0 ? new Uint16Array(sb.buffer, sb.byteOffset, sb.length / 2) : new Uint16Array(sb.slice().buffer)) : await store.readTensorF32(scales.name);
      return unpackGptq(
        { qweight: asI32(await store.readTensorBytes(qweight.name)), qzeros: asI32(await store.readTensorBytes(qzeros.name)), scales: sv, g_idx: await readGIdx() },
        { bits: L.bits, inFeatures: L.inF, outFeatures: L.outF, groupSize: L.groupSize, format: cfg.format, file: L.file, name: prefix },
      );
    };
    for (const p of [qweight, qzeros, scales, g_idx]) if (p) tensors.delete(p.name);
    tensors.set(name, {
      name,
      ggufName: hfToGguf(name),
      shape: [L.outF, L.inF],
      type: `GPTQ ${L.bits}-bit ${L.groupSize === -1 ? 'per-channel' : `g${L.groupSize}`}`,
      ggmlType: null,
      bytes: [qweight, qzeros, scales, g_idx].reduce((s, p) => s + (p ? p.end - p.begin : 0), 0),
      rowOrder: null,
      readQ,
      quant: { bits: L.bits, groupSize: L.groupSize === -1 ? L.inF : L.groupSize },
      readF32: async () => dequantizeQ(await readQ()),
      readRaw: () => Promise.reject(new UnsupportedError(L.file, `${prefix} is a GPTQ layer (qweight/qzeros/scales), not one stored tensor; read it with readQ()`)),
    });
  }
  const stray = [...tensors.keys()].find((n) => /\.(qzeros|scales|g_idx)$/.test(n) && infos.get(n) && !infos.has(n.replace(/\.[a-z_]+$/, '.qweight')));
  if (stray) throw new GptqError(`${hf.folder.name}/${infos.get(stray)!.file}`, `${stray} has no matching .qweight`);
  return cfg;
}
