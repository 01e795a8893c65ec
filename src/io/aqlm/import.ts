// Loading an AQLM checkpoint folder (transformers + aqlm, formats-2.md §3) into
// sub4: each quantized Linear's codes/codebooks/scales become one ModelTensor
// '<module>.weight' of shape [out, in] whose readVq() gives a VqTensor with a
// learned table (codebook.name 'learned': 2^k entries of d = in_group_size
// weights, no signs, one scale per output row, zero offsets) and whose readF32()
// dequantizes it (W[o, i·d + c] = scales[o] · codebooks[0, codes[o, i, 0] mod 2^k, 0, c]).
// The engine runs it through the codebook kernels (src/gpu/vq_gpu.ts).
// Read: num_codebooks 1, out_group_size 1, in_group_size ∈ {1, 2, 4, 8} (the
// vector lengths of a VqTensor), nbits_per_codebook 1..16. Refused with typed
// errors naming the file: other configurations (2×8 and friends, 16-weight
// vectors), missing or stray tensors, wrong dtypes or shapes, codes outside
// [−2^(k−1), 2^k) (aqlm stores them signed; either form is read mod 2^k).
// Every byte of the folder is treated as hostile: shapes are checked before any
// allocation they would size.
import { ConfigError, FormatError, UnsupportedError } from '../../base/errors.ts';
import type { HfModelFolder } from '../hf_folder.ts';
import type { ModelTensor } from '../loaded_model.ts';
import type { SafetensorsTensorInfo } from '../safetensors/header.ts';
import { hfToGguf } from '../../arch/names.ts';
import { dequantizeVq, emptyVqTensor, indexBitsFor, vqWordsPerRow, type VqDim, type VqTensor } from '../../quant/vq/vqtensor.ts';

/** A malformed AQLM layer. */
export class AqlmError extends FormatError {}

export interface AqlmQuantConfig {
  /** Weights per code (in_group_size). */
  dim: VqDim;
  /** nbits_per_codebook. */
  bits: number;
  notToQuantize: string[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const int = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** The AQLM settings of a quantization_config object; `file` names it in errors. */
export function parseAqlmConfig(qc: Record<string, unknown>, file: string): AqlmQuantConfig {
  const get = (key: string, dflt: number): number => {
    const v = qc[key] ?? dflt;
    if (!int(v) || v < 1) throw new ConfigError(file, `quantization_config.${key} is ${JSON.stringify(v)}, not a positive integer`);
    return v;
  };
  const d = get('in_group_size', 8);
  const og = get('out_group_size', 1);
  const K = get('num_codebooks', 1);
  const bits = get('nbits_per_codebook', 16);
  if (K !== 1) throw new UnsupportedError(file, `AQLM with ${K} codebooks (the sum of ${K} tables per vector); sub4 reads num_codebooks 1 only`);
  if (og !== 1) throw new UnsupportedError(file, `AQLM out_group_size ${og}; sub4 reads out_group_size 1 only`);
  if (![1, 2, 4, 8].includes(d)) throw new UnsupportedError(file, `AQLM in_group_size ${d}; sub4 reads vectors of 1, 2, 4 or 8 weights`);
  if (bits > 16) throw new UnsupportedError(file, `AQLM ${bits}-bit codes; sub4 reads at most 16-bit codes`);
  const list = qc.linear_weights_not_to_quantize ?? [];
  if (!Array.isArray(list) || list.some((n) => typeof n !== 'string'))
    throw new ConfigError(file, 'quantization_config.linear_weights_not_to_quantize is not a list of tensor names');
  return { dim: d as VqDim, bits, notToQuantize: list as string[] };
}

type Info = SafetensorsTensorInfo & { readonly file: string };

const FLOATS = ['F16', 'BF16', 'F32'];

interface Layer {
  prefix: string;
  O: number;
  I: number;
  file: string;
  codes: Info;
  codebooks: Info;
  scales: Info;
}

function layerOf(prefix: string, get: (n: string) => Info | undefined, cfg: AqlmQuantConfig, folder: string): Layer {
  const codes = get(`${prefix}.codes`)!;
  const file = `${folder}/${codes.file}`;
  const bad = (tensor: string, detail: string): never => {
    throw new AqlmError(file, `${prefix}.${tensor}: ${detail}`);
  };
  const need = (suffix: string, dtypes: readonly string[], shape: (number | null)[]): Info => {
    const t = get(`${prefix}.${suffix}`) ?? bad(suffix, 'missing (an AQLM layer needs codes, codebooks and scales)');
    if (!dtypes.includes(t.dtype)) bad(suffix, `dtype ${t.dtype}; expected ${dtypes.join(' or ')}`);
    const want = `[${shape.map((s) => s ?? '·').join(', ')}]`;
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s < 1 || (shape[i] !== null && s !== shape[i])))
      bad(suffix, `shape [${t.shape.join(', ')}]; expected ${want}`);
    return t;
  };
  need('codes', [cfg.bits <= 8 ? 'I8' : 'I16'], [null, null, 1]);
  const [O, IG] = codes.shape;
  const codebooks = need('codebooks', FLOATS, [1, 2 ** cfg.bits, 1, cfg.dim]);
  const scales = need('scales', FLOATS, [O, 1, 1, 1]);
  const I = IG * cfg.dim;
  if (!Number.isSafeInteger(O * I) || O * I > 2 ** 40) bad('codes', `shape [${codes.shape.join(', ')}] is too large for a linear layer`);
  return { prefix, O, I, file, codes, codebooks, scales };
}

/**
 * If the folder is an AQLM checkpoint (quantization_config.quant_method 'aqlm'), replace each
 * layer's tensors in `tensors` (as openHfModel listed them) by one '<module>.weight' with readVq. No-op otherwise.
 */
export async function applyAqlmTensors(hf: HfModelFolder, tensors: Map<string, ModelTensor>): Promise<AqlmQuantConfig | null> {
  const qc = hf.configJson.quantization_config;
  if (!isObj(qc) || qc.quant_method !== 'aqlm') return null;
  const cfg = parseAqlmConfig(qc, `${hf.folder.name}/config.json`);
  const infos = hf.weights.tensors;
  const store = hf.weights;
  const prefixes = [...infos.keys()].filter((n) => n.endsWith('.codes')).map((n) => n.slice(0, -'.codes'.length));
  const k = cfg.bits;
  const C = 2 ** k;
  for (const prefix of prefixes) {
    const L = layerOf(prefix, (n) => infos.get(n), cfg, hf.folder.name);
    const name = `${prefix}.weight`;
    if (infos.has(name)) throw new AqlmError(L.file, `${prefix} has both a dense .weight and AQLM codes`);
    if (cfg.notToQuantize.includes(name)) throw new AqlmError(L.file, `${prefix} has AQLM codes, but quantization_config.linear_weights_not_to_quantize lists ${name}`);
    const readVq = async (): Promise<VqTensor> => {
      const raw = await store.readTensorBytes(L.codes.name);
      const n = L.O * (L.I / cfg.dim);
      if (raw.length !== n * (k <= 8 ? 1 : 2)) throw new AqlmError(L.file, `${prefix}.codes: ${raw.length} bytes for shape [${L.codes.shape.join(', ')}]`);
      const b = new Uint8Array(raw); // an aligned copy (Buffer.slice would be a view)
      const codes = k <= 8 ? new Int8Array(b.buffer, 0, n) : new Int16Array(b.buffer, 0, n);
      const table = await store.readTensorF32(L.codebooks.name);
      const scales = await store.readTensorF32(L.scales.name);
      const finite = (v: Float32Array, what: string) => {
        const i = v.findIndex((x) => !Number.isFinite(x));
        if (i >= 0) throw new AqlmError(L.file, `${prefix}.${what}: value ${v[i]} at index ${i} is not finite`);
      };
      finite(table, 'codebooks');
      finite(scales, 'scales');
      const q = emptyVqTensor(L.O, L.I, { name: 'learned', dim: cfg.dim, size: C, values: table }, L.I, false, indexBitsFor(C));
      q.scale.set(scales);
      const wpr = vqWordsPerRow(q);
      const b2 = q.indexBits;
      const IG = L.I / cfg.dim;
      for (let r = 0; r < L.O; r++)
        for (let v = 0; v < IG; v++) {
          const c = codes[r * IG + v];
          if (c < -(C >> 1) || c >= C)
            throw new AqlmError(L.file, `${prefix}.codes[${r}, ${v}, 0] = ${c} is outside [${-(C >> 1)}, ${C}) for ${k}-bit codes`);
          const idx = c < 0 ? c + C : c;
          const bit = v * b2;
          q.codes[r * wpr + (bit >>> 5)] |= idx << (bit & 31);
        }
      return q;
    };
    for (const p of [L.codes, L.codebooks, L.scales]) tensors.delete(p.name);
    tensors.set(name, {
      name,
      ggufName: hfToGguf(name, hf.config.architecture),
      shape: [L.O, L.I],
      type: `AQLM 1x${k} g${cfg.dim}`,
      ggmlType: null,
      bytes: [L.codes, L.codebooks, L.scales].reduce((s, p) => s + (p.end - p.begin), 0),
      rowOrder: null,
      readVq,
      vq: { dim: cfg.dim, bits: k },
      readF32: async () => dequantizeVq(await readVq()),
      readRaw: () => Promise.reject(new UnsupportedError(L.file, `${prefix} is an AQLM layer (codes/codebooks/scales), not one stored tensor; read it with readVq()`)),
    });
  }
  const stray = [...infos.keys()].find((n) => /\.(codebooks|scales)$/.test(n) && !infos.has(n.replace(/\.[a-z]+$/, '.codes')));
  if (stray) throw new AqlmError(`${hf.folder.name}/${infos.get(stray)!.file}`, `${stray} has no matching .codes`);
  return cfg;
}
