// The trained state of a run, as the exporters (GGUF with tuned scales, PEFT
// and llama.cpp LoRA, GPTQ) need it: a JSON manifest (method, quantization,
// base model, data file, steps, perplexity before/after, and one entry per
// tensor saying what it is) plus one safetensors file holding the tensors:
//   layers.L.ROLE.theta     PEQA θ of that linear layer (its parametrization kind in the manifest)
//   layers.L.ROLE.lora_a    LoRA A [R, I]; lora_b: B [O, R] (scale alpha / R in the manifest)
//   layers.L.ROLE.lora_magnitude   DoRA's magnitude m [O] (trainConfig.lora.dora)
//   layers.L.attn_norm … final_norm   trained RMSNorm weights, when norms train
//   layers.L.ROLE.codebook|row_scale   a learned codebook's trained table (F32, padded
//                                  to vec4s as on the GPU) and row scales (trainConfig.codebooks)
//   base:NAME:codes|scale|offset   the quantized base sub4 made itself (--bits, LQ-LoRA):
//                                  its codes (U32) and starting scale/offset, so export never
//                                  has to re-run a quantizer (LQ-LoRA's is seeded but slow)
//   base:NAME:blocks              layers a --budget plan put in GGUF block types: their blocks
//                                  (U8, engine row order), so eval and export rebuild the same
//                                  base without the float model's re-quantization (the plan is
//                                  in the manifest as `budget`; see src/train/budget/plan.ts)
//   base:NAME:codes|table|scale   layers a ReALLM run put in a learned codebook (vqBase in the
//                                  manifest: d, entries, index bits): index words (U32, the
//                                  VqTensor's rows), the table (F32 [entries, d]) and the row
//                                  scales (F32); offsets are zero. Restored bit for bit. When the
//                                  run trained the codebooks, table and scale are the trained
//                                  ones, so every exporter reads the tuned base from here.
// Names are the optimizer's parameter names (Trainable.groups()), so loading
// back is a lookup. Engine code: bytes in, bytes out; the CLI writes the files.
import { FormatError } from '../base/errors.ts';
import { bytesSource } from '../io/source.ts';
import { openSafetensors } from '../io/safetensors/reader.ts';
import { encodeSafetensors } from '../io/safetensors/writer.ts';
import type { TrainConfig, Trainable } from '../model/trainable.ts';
import { checkQShape, groupsPerRow, wordsPerRow, type QBits, type QTensor } from '../quant/qtensor.ts';
import { BLOCK_FORMATS, GgmlType, ggmlTypeName } from '../quant/formats.ts';
import type { BudgetPlan } from './budget/plan.ts';
import type { GgufLayer } from './budget/overlay.ts';
import { emptyVqTensor, vqWordsPerRow, type VqDim, type VqIndexBits, type VqTensor } from '../quant/vq/vqtensor.ts';

export const STATE_FORMAT = 'sub4-trained-state';
export const STATE_VERSION = 1;
export const STATE_TENSORS_FILE = 'trained.safetensors';
export const STATE_MANIFEST_FILE = 'sub4-run.json';

export type StateTensorKind = 'peqa-theta' | 'lora-a' | 'lora-b' | 'dora-magnitude' | 'norm' | 'codebook' | 'row-scale';

const KINDS: Record<string, StateTensorKind> = { theta: 'peqa-theta', lora_a: 'lora-a', lora_b: 'lora-b', lora_magnitude: 'dora-magnitude', codebook: 'codebook', row_scale: 'row-scale' };

export interface StateTensor {
  name: string;
  kind: StateTensorKind;
  shape: number[];
  layer: number | null;
  role: string | null;
  /** PEQA tensors: the parametrization θ belongs to (scale, scale+offset, gguf-superblock). */
  parametrization?: string;
}

export interface RunInfo {
  /** The method as the user asked for it (lqlora is trained as lora). */
  method: string;
  /** Quantization applied by sub4 before training (null: the file's own types were used). */
  quant: { bits: number; groupSize: number | 'channel' } | null;
  /** LQ-LoRA under a bit budget: the per-matrix plan (types, ranks, bytes, errors). */
  budget?: BudgetPlan | null;
  /** ReALLM: the learned codebook's shape (d weights per code, k-bit codes), the LoRA rank, and bits per linear weight (codes, f16 row scales and tables; LoRA not counted). */
  reallm?: { dim: number; bits: number; rank: number; bitsPerWeight: number } | null;
  base: { path: string; name: string };
  data: { file: string; bytes: number };
  seed: number;
  steps: number;
  batch: number;
  seqLen: number;
  lr: number;
  perplexity: { before: number | null; after: number | null };
  losses: { first: number | null; last: number | null };
}

export interface StateManifest extends RunInfo {
  format: typeof STATE_FORMAT;
  version: number;
  trainMethod: string;
  /** The configuration the trainable was built with: building it again on the same base restores the run. */
  trainConfig: TrainConfig;
  lora: { rank: number; alpha: number; scale: number } | null;
  tensorsFile: string;
  tensors: StateTensor[];
  /** Linear layers sub4 quantized before training (engine names), stored as base:NAME:codes|scale|offset. */
  quantizedBase: { name: string; rows: number; cols: number; bits: number; groupSize: number }[];
  /** Linear layers sub4 quantized into GGUF block types (a --budget plan), stored as base:NAME:blocks. */
  ggufBase?: { name: string; type: string; rows: number; cols: number }[];
  /** Linear layers sub4 put in learned codebooks (ReALLM), stored as base:NAME:codes|table|scale. */
  vqBase?: { name: string; rows: number; cols: number; dim: number; entries: number; indexBits: number }[];
}

const baseKey = (name: string, part: 'codes' | 'scale' | 'offset' | 'blocks' | 'table') => `base:${name}:${part}`;

/** A state file that cannot be read back: names the file and the problem. */
export class TrainedStateError extends FormatError {}

/** Read every trained tensor off the GPU and lay out manifest + safetensors bytes. */
export async function encodeTrainedState(
  tr: Trainable,
  info: RunInfo,
  quantizedBase: ReadonlyMap<string, QTensor> = new Map(),
  ggufBase: ReadonlyMap<string, GgufLayer> = new Map(),
  vqBase: ReadonlyMap<string, VqTensor> = new Map(),
): Promise<{ manifest: StateManifest; json: string; safetensors: Uint8Array }> {
  const tensors: StateTensor[] = [];
  const data: { name: string; dtype: 'F32' | 'U32' | 'U8'; shape: number[]; data: Float32Array | Uint8Array }[] = [];
  let lora: StateManifest['lora'] = null;
  for (const g of tr.groups())
    for (const p of g.params) {
      const m = /^layers\.(\d+)\.(\w+)\.(theta|lora_a|lora_b|lora_magnitude|codebook|row_scale)$/.exec(p.name);
      const kind: StateTensorKind = m ? KINDS[m[3]] : 'norm';
      const layer = m ? Number(m[1]) : null;
      const role = m ? m[2] : null;
      const t: StateTensor = { name: p.name, kind, shape: [...p.param.shape], layer, role };
      if (kind === 'peqa-theta') t.parametrization = tr.layers[layer!][role as 'q']!.peqa!.p.kind;
      if (kind === 'lora-a' && !lora) {
        const l = tr.layers[layer!][role as 'q']!.lora!.lora;
        // The config's one rank (a --budget run's matrices have their own, TrainConfig.lora.ranks; shapes per tensor).
        const rank = tr.config.lora!.ranks ? tr.config.lora!.rank : l.a.shape[0];
        const alpha = tr.config.lora!.alpha ?? rank;
        lora = { rank, alpha, scale: alpha / rank };
      }
      tensors.push(t);
      data.push({ name: p.name, dtype: 'F32', shape: [...p.param.shape], data: await p.param.read() });
    }
  const qbase: StateManifest['quantizedBase'] = [];
  for (const [name, q] of quantizedBase) {
    qbase.push({ name, rows: q.rows, cols: q.cols, bits: q.bits, groupSize: q.groupSize });
    const ng = groupsPerRow(q.cols, q.groupSize);
    data.push({ name: baseKey(name, 'codes'), dtype: 'U32', shape: [q.rows, wordsPerRow(q.cols, q.bits)], data: new Uint8Array(q.codes.buffer, q.codes.byteOffset, q.codes.byteLength) });
    data.push({ name: baseKey(name, 'scale'), dtype: 'F32', shape: [q.rows, ng], data: q.scale });
    data.push({ name: baseKey(name, 'offset'), dtype: 'F32', shape: [q.rows, ng], data: q.offset });
  }
  const gbase: NonNullable<StateManifest['ggufBase']> = [];
  for (const [name, l] of ggufBase) {
    gbase.push({ name, type: ggmlTypeName(l.type), rows: l.rows, cols: l.cols });
    data.push({ name: baseKey(name, 'blocks'), dtype: 'U8', shape: [l.blocks.length], data: l.blocks });
  }
  // Trained codebooks (indices frozen) replace their base's table and scales.
  const trained = new Map<string, { table: Float32Array; scale: Float32Array }>();
  for (const roles of tr.layers)
    for (const t of Object.values(roles)) if (t?.codebook) trained.set(t.codebook.name, { table: await t.codebook.table.read(), scale: await t.codebook.scale.read() });
  const vbase: NonNullable<StateManifest['vqBase']> = [];
  for (const [name, base] of vqBase) {
    const tt = trained.get(name);
    const q = tt ? { ...base, codebook: { ...base.codebook, values: tt.table.slice(0, base.codebook.values.length) }, scale: tt.scale } : base;
    if (q.codebook.name !== 'learned' || q.signed || q.groupSize !== q.cols || q.offset.some((v) => v !== 0)) throw new RangeError(`${name}: only learned tables with one scale per row, no signs and zero offsets are saved as a codebook base`);
    vbase.push({ name, rows: q.rows, cols: q.cols, dim: q.codebook.dim, entries: q.codebook.size, indexBits: q.indexBits });
    data.push({ name: baseKey(name, 'codes'), dtype: 'U32', shape: [q.rows, vqWordsPerRow(q)], data: new Uint8Array(q.codes.buffer, q.codes.byteOffset, q.codes.byteLength) });
    data.push({ name: baseKey(name, 'table'), dtype: 'F32', shape: [q.codebook.size, q.codebook.dim], data: q.codebook.values });
    data.push({ name: baseKey(name, 'scale'), dtype: 'F32', shape: [q.rows], data: q.scale });
  }
  const manifest: StateManifest = { format: STATE_FORMAT, version: STATE_VERSION, ...info, trainMethod: tr.config.method, trainConfig: tr.config, lora, tensorsFile: STATE_TENSORS_FILE, tensors, quantizedBase: qbase, ...(gbase.length ? { ggufBase: gbase } : {}), ...(vbase.length ? { vqBase: vbase } : {}) };
  const safetensors = await encodeSafetensors(data, { metadata: { format: STATE_FORMAT }, file: STATE_TENSORS_FILE });
  return { manifest, json: JSON.stringify(manifest, null, 2) + '\n', safetensors };
}

/** Parse and check a manifest and its tensors file; returns the tensors by name. */
export async function decodeTrainedState(
  json: string,
  bytes: Uint8Array,
  file = STATE_MANIFEST_FILE,
): Promise<{ manifest: StateManifest; tensors: Map<string, Float32Array>; quantizedBase: Map<string, QTensor>; ggufBase: Map<string, GgufLayer>; vqBase: Map<string, VqTensor> }> {
  let manifest: StateManifest;
  try {
    manifest = JSON.parse(json) as StateManifest;
  } catch (e) {
    throw new TrainedStateError(file, `is not JSON (${(e as Error).message})`);
  }
  if (manifest?.format !== STATE_FORMAT) throw new TrainedStateError(file, `is not a sub4 trained state (format ${JSON.stringify(manifest?.format)})`);
  if (manifest.version !== STATE_VERSION) throw new TrainedStateError(file, `has version ${manifest.version}; this sub4 reads version ${STATE_VERSION}`);
  if (!Array.isArray(manifest.tensors)) throw new TrainedStateError(file, 'has no tensors list');
  if (typeof manifest.trainConfig?.method !== 'string') throw new TrainedStateError(file, 'has no trainConfig (written by an older sub4: train again)');
  const st = await openSafetensors(bytesSource(bytes, manifest.tensorsFile ?? STATE_TENSORS_FILE));
  try {
    const tensors = new Map<string, Float32Array>();
    for (const t of manifest.tensors) {
      const info = st.tensors.get(t.name);
      if (!info) throw new TrainedStateError(file, `tensor ${t.name} is listed but not in ${st.source.name}`);
      if (info.shape.length !== t.shape.length || info.shape.some((n, i) => n !== t.shape[i]))
        throw new TrainedStateError(file, `tensor ${t.name} is [${info.shape.join(', ')}] in ${st.source.name}, [${t.shape.join(', ')}] in the manifest`);
      tensors.set(t.name, await st.readTensorF32(t.name));
    }
    const quantizedBase = new Map<string, QTensor>();
    for (const b of manifest.quantizedBase ?? []) {
      try {
        checkQShape(b.rows, b.cols, b.bits, b.groupSize);
      } catch (e) {
        throw new TrainedStateError(file, `quantized base ${b.name}: ${(e as Error).message}`);
      }
      const part = async (p: 'codes' | 'scale' | 'offset', dtype: string, n: number) => {
        const info = st.tensors.get(baseKey(b.name, p));
        if (!info || info.dtype !== dtype || info.end - info.begin !== 4 * n)
          throw new TrainedStateError(file, `quantized base ${b.name}: ${baseKey(b.name, p)} is missing or not ${n} ${dtype} values`);
        const raw = await st.readTensorBytes(baseKey(b.name, p));
        // A copy of exactly these bytes: raw may view a Node Buffer, whose slice() does not copy.
        return new Uint8Array(raw).buffer;
      };
      const ng = b.rows * groupsPerRow(b.cols, b.groupSize);
      quantizedBase.set(b.name, {
        rows: b.rows, cols: b.cols, bits: b.bits as QBits, groupSize: b.groupSize,
        codes: new Uint32Array(await part('codes', 'U32', b.rows * wordsPerRow(b.cols, b.bits))),
        scale: new Float32Array(await part('scale', 'F32', ng)),
        offset: new Float32Array(await part('offset', 'F32', ng)),
      });
    }
    const ggufBase = new Map<string, GgufLayer>();
    for (const b of manifest.ggufBase ?? []) {
      const type = (GgmlType as unknown as Record<string, number>)[b.type];
      const f = BLOCK_FORMATS[type as keyof typeof BLOCK_FORMATS];
      if (!f || b.cols % f.blockSize !== 0) throw new TrainedStateError(file, `GGUF base layer ${b.name}: ${b.type} is not a block type sub4 decodes for rows of ${b.cols}`);
      const n = ((b.rows * b.cols) / f.blockSize) * f.bytesPerBlock;
      const info = st.tensors.get(baseKey(b.name, 'blocks'));
      if (!info || info.dtype !== 'U8' || info.end - info.begin !== n) throw new TrainedStateError(file, `GGUF base layer ${b.name}: ${baseKey(b.name, 'blocks')} is missing or not ${n} bytes of ${b.type}`);
      ggufBase.set(b.name, { type: type as GgmlType, rows: b.rows, cols: b.cols, blocks: new Uint8Array(await st.readTensorBytes(baseKey(b.name, 'blocks'))) });
    }
    const vqBase = new Map<string, VqTensor>();
    for (const b of manifest.vqBase ?? []) {
      let q: VqTensor;
      try {
        if (![b.rows, b.cols, b.entries].every((n) => Number.isInteger(n) && n >= 1) || b.entries > 2 ** 16 || b.rows * b.cols > 2 ** 31) throw new RangeError(`bad shape [${b.rows}, ${b.cols}] or ${b.entries} entries`);
        q = emptyVqTensor(b.rows, b.cols, { name: 'learned', dim: b.dim as VqDim, size: b.entries, values: new Float32Array(b.entries * b.dim) }, b.cols, false, b.indexBits as VqIndexBits);
      } catch (e) {
        throw new TrainedStateError(file, `codebook base ${b.name}: ${(e as Error).message}`);
      }
      const part = async (p: 'codes' | 'table' | 'scale', dtype: string, n: number) => {
        const info = st.tensors.get(baseKey(b.name, p));
        if (!info || info.dtype !== dtype || info.end - info.begin !== 4 * n)
          throw new TrainedStateError(file, `codebook base ${b.name}: ${baseKey(b.name, p)} is missing or not ${n} ${dtype} values`);
        return new Uint8Array(await st.readTensorBytes(baseKey(b.name, p))).buffer;
      };
      q.codes.set(new Uint32Array(await part('codes', 'U32', q.codes.length)));
      q.codebook.values.set(new Float32Array(await part('table', 'F32', q.codebook.values.length)));
      q.scale.set(new Float32Array(await part('scale', 'F32', q.rows)));
      vqBase.set(b.name, q);
    }
    return { manifest, tensors, quantizedBase, ggufBase, vqBase };
  } finally {
    await st.close();
  }
}

/** Write saved tensors into a trainable of the same configuration (shapes checked before any write). */
export function loadTrainedState(tr: Trainable, tensors: ReadonlyMap<string, Float32Array>, file = STATE_MANIFEST_FILE): void {
  const params = tr.groups().flatMap((g) => g.params);
  for (const p of params) {
    const t = tensors.get(p.name);
    if (!t) throw new TrainedStateError(file, `has no tensor ${p.name}, which this training configuration trains`);
    if (t.length !== p.param.size) throw new TrainedStateError(file, `tensor ${p.name} holds ${t.length} values, the trainable ${p.param.size}`);
  }
  for (const p of params) p.param.write(tensors.get(p.name)!);
  tr.apply();
}
