// GGUF export of a tuned model, with the integer codes untouched.
// - A GGUF base: every tensor is written back in its own type and order. Only
//   the f16 fields a scales-only tune may change are rewritten (formats.md §2.2):
//   Q4_0/Q5_0/Q8_0 d; Q4_1/Q5_1 d and m; K-quants trained through their
//   super-blocks d and dmin. All other bytes are copied from the input file.
// - A base sub4 quantized itself (--bits): each layer is written as the GGUF
//   type whose grid is its own — 4-bit groups of 32 with the zero point 8 are
//   Q4_0, with any integer zero point Q4_1 (m = offset), 8-bit groups of 32 with
//   zero point 128 Q8_0. Any other grid has no GGUF block type and is refused.
//   Rows a block cannot tile (stories260K's 172-wide down_proj) are written as
//   F16 of the tuned grid, as llama-quantize falls back for such rows.
// - Codebook-typed layers (i-quants, IQ4/FP4 tables, ternary): src/export/vq_gguf.ts.
// - Layers a --budget plan put in GGUF block types (src/train/budget/overlay.ts: the
//   float file's tensors report the chosen type, blocks in engine row order): with
//   LoRA only (no trained scales) their blocks are written as they are, each layer
//   in its own type, the rest of the model converted as for a sub4 grid base.
// Trained norm weights replace the base's; q/k rows go back to GGUF order.
import { convertToGguf, mergeKv } from './convert/convert.ts';
import { encodeTensor } from './convert/encode_tensor.ts';
import { ExportError } from './target.ts';
import { writeGguf, type ByteSink } from '../io/gguf/writer.ts';
import { GgufValueType, type GgufKv } from '../io/gguf/types.ts';
import { FILE_TYPE, isConvertType } from './convert/type_policy.ts';
import type { ModelTensor } from '../io/loaded_model.ts';
import { ggufToHf, qkKind, qkRowOrder, applyRowOrder, ggufQkInterleaved } from '../arch/names.ts';
import { f32ToF16, writeU16 } from '../quant/f16.ts';
import { BLOCK_FORMATS, GgmlType, ggmlTypeName } from '../quant/formats.ts';
import { qtensorToGguf, type GgufOrigin } from '../quant/gguf_qtensor.ts';
import { dequantizeQ, groupsPerRow, wordsPerRow, type QTensor } from '../quant/qtensor.ts';
import { refitKQuant } from './kquant_refit.ts';
import { vqExportCheck, vqTunedBlocks } from './vq_gguf.ts';
import type { TunedLinear, TunedModel } from './tuned.ts';

const GRID_TYPES = [
  { type: GgmlType.Q4_0, bits: 4, zero: 8 },
  { type: GgmlType.Q4_1, bits: 4, zero: null },
  { type: GgmlType.Q8_0, bits: 8, zero: 128 },
] as const;

/** Integer zero point of every group, or null when some group has none. */
function zeroPoints(q: QTensor): Int32Array | null {
  const z = new Int32Array(q.scale.length);
  for (let g = 0; g < z.length; g++) {
    const s = q.scale[g];
    const v = s === 0 ? 0 : Math.round(-q.offset[g] / s);
    if (Math.abs(q.offset[g] + v * s) > 1e-5 * Math.abs(q.offset[g]) + 1e-12) return null;
    z[g] = v;
  }
  return z;
}

/** The GGUF type a sub4 grid is written as, or why it has none. */
export function ggufTypeOfGrid(q: QTensor): { type: GgmlType; dense: boolean } | { type: null; why: string } {
  const grid = `${q.bits}-bit ${q.groupSize === q.cols ? 'per-channel' : `group ${q.groupSize}`}`;
  const gs = q.groupSize === q.cols && q.cols === 32 ? 32 : q.groupSize;
  const fits = GRID_TYPES.filter((g) => g.bits === q.bits && gs === 32);
  if (fits.length === 0)
    return { type: null, why: `a ${grid} grid has no GGUF block type (GGUF's legacy types are 4/5/8-bit groups of 32; its K-quants share sub-scales within 256-weight super-blocks, which a free per-group scale cannot be written into exactly) — quantize with --bits 4 --group 32 for GGUF, or export GPTQ` };
  const z = zeroPoints(q);
  const pick = fits.find((g) => g.zero === null ? z !== null : z !== null && z.every((v) => v === g.zero));
  if (!pick) return { type: null, why: `the ${grid} grid's offsets are not integer zero points` };
  return { type: pick.type, dense: q.cols % 32 !== 0 };
}

/** Why this tuned model cannot be written as GGUF exactly (empty: it can), and notes on what will be done. */
export function ggufExportCheck(tm: TunedModel): { problems: string[]; notes: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  for (const l of tm.linears.values()) {
    if (l.origin) {
      if (l.trained && !nativeView(l)) {
        const type = ggmlTypeName(l.origin.type);
        if (l.origin.sc) notes.push(`${l.name}: ${type} scales were trained as free '${l.trained.kind}' values; its super-block d/dmin and integer sub-scales are refitted to them (approximate: the weight-space error is reported)`);
        else problems.push(`${l.name}: its ${type} scales were trained as free '${l.trained.kind}' values, which its block fields cannot hold exactly`);
      }
      continue;
    }
    const g = ggufTypeOfGrid(l.q);
    if (g.type === null) problems.push(`${l.name}: ${g.why}`);
    else if (g.dense) notes.push(`${l.name}: ${l.q.cols} columns are not a multiple of 32, written as F16 of the tuned grid`);
  }
  const vq = vqExportCheck(tm);
  problems.push(...vq.problems);
  notes.push(...vq.notes);
  if (tm.lora) notes.push('LoRA factors are not in this file: apply the exported adapter (GGUF LoRA or PEFT) on top of it');
  return { problems, notes };
}

/** The trained view is the one whose θ are the block's own f16 fields. */
function nativeView(l: TunedLinear): boolean {
  const t = l.origin!.type;
  const legacySym = t === GgmlType.Q4_0 || t === GgmlType.Q5_0 || t === GgmlType.Q8_0;
  const legacyMin = t === GgmlType.Q4_1 || t === GgmlType.Q5_1;
  return l.trained!.kind === (legacySym ? 'scale' : legacyMin ? 'scale+offset' : 'gguf-superblock');
}

/** Rewrite the f16 fields of a tuned GGUF-born layer into a copy of its raw blocks (file row order). */
function patchBlocks(raw: Uint8Array, l: TunedLinear, rowOrder: Uint32Array | null): Uint8Array {
  const o = l.origin!;
  const f = BLOCK_FORMATS[o.type];
  const out = raw.slice();
  const perRow = l.q.cols / f.blockSize;
  const nb = l.q.rows * perRow;
  const theta = l.trained!.theta;
  const minAt = f.f16Fields!.m ?? f.f16Fields!.dmin;
  // Engine row r is file row rowOrder[r] (the q/k layout, src/arch/names.ts).
  for (let r = 0; r < l.q.rows; r++) {
    const fr = rowOrder ? rowOrder[r] : r;
    for (let b = 0; b < perRow; b++) {
      const eb = r * perRow + b; // θ index (one θ per block, or per super-block = block for K-quants)
      const off = (fr * perRow + b) * f.bytesPerBlock;
      writeU16(out, off + f.f16Fields!.d, f32ToF16(theta[eb]));
      if (minAt !== undefined) writeU16(out, off + minAt, f32ToF16(theta[nb + eb])); // θ = [d…; m or dmin…]
    }
  }
  return out;
}

/** A sub4 grid as ggml blocks of `type`, rows in file order. */
function encodeGrid(q: QTensor, type: GgmlType, rowOrder: Uint32Array | null): Uint8Array {
  const src = rowOrder ? reorderRows(q, rowOrder) : q;
  const G = src.scale.length;
  const origin: GgufOrigin = { type: type as GgufOrigin['type'], d: new Uint16Array(G), min: type === GgmlType.Q4_1 ? new Uint16Array(G) : null, sc: null, m: null };
  for (let g = 0; g < G; g++) {
    origin.d[g] = f32ToF16(src.scale[g]);
    if (origin.min) origin.min[g] = f32ToF16(src.offset[g]);
  }
  return qtensorToGguf(src, origin);
}

function reorderRows(q: QTensor, order: Uint32Array): QTensor {
  const ng = groupsPerRow(q.cols, q.groupSize);
  return { ...q, codes: applyRowOrder(new Int32Array(q.codes.buffer.slice(0)), wordsPerRow(q.cols, q.bits), order) as unknown as Uint32Array, scale: applyRowOrder(q.scale, ng, order), offset: applyRowOrder(q.offset, ng, order) };
}

function ggufOrder(tm: TunedModel, name: string, rows: number): Uint32Array | null {
  const kind = qkKind(name);
  if (!kind || !ggufQkInterleaved(tm.base.config.architecture)) return null;
  return qkRowOrder(rows, kind === 'q' ? tm.base.config.numHeads : tm.base.config.numKvHeads, 'hf_to_gguf');
}

/** Write the tuned model as GGUF; throws ExportError when ggufExportCheck has problems. */
export async function writeTunedGguf(tm: TunedModel, sink: ByteSink, provenance: [string, GgufKv][]): Promise<{ bytes: number; notes: string[] }> {
  const { problems } = ggufExportCheck(tm);
  if (problems.length) throw new ExportError('GGUF', `cannot be written exactly: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more layers)` : ''}`);
  const base = tm.base;
  const normBytes = (t: ModelTensor, type: GgmlType) => encodeTensor(type, tm.norms.get(t.name)!);

  // The file's own tensors, in its own types (a budget overlay changes the linear layers' types: converted below).
  const fileTypes = new Map(base.gguf?.tensors.map((t) => [t.name, t.type]) ?? []);
  const asFile = [...base.tensors.values()].every((t) => t.ggufName === null || !fileTypes.has(t.ggufName) || fileTypes.get(t.ggufName) === t.ggmlType);
  if (base.gguf && asFile && [...tm.linears.values()].every((l) => l.origin)) {
    const f = base.gguf;
    const byGguf = new Map([...base.tensors.values()].map((t) => [t.ggufName, t]));
    const notes: string[] = [];
    const refit = (raw: Uint8Array, l: TunedLinear, order: Uint32Array | null) => {
      const r = refitKQuant(raw, l, order);
      notes.push(`${l.name}: refitted ${ggmlTypeName(l.origin!.type)} sub-scales, weight error ${(100 * r.relRmse).toFixed(3)} % RMS relative to the trained weights`);
      return r.bytes;
    };
    const bytes = await writeGguf(
      sink,
      mergeKv([...f.kv], provenance),
      f.tensors.map((t) => ({ name: t.name, ne: t.ne.map(Number), type: t.type })),
      async (spec) => {
        const t = byGguf.get(spec.name)!;
        const hf = ggufToHf(spec.name, tm.base.config.architecture) ?? spec.name;
        const l = tm.linears.get(hf);
        if (tm.norms.has(t.name)) return normBytes(t, spec.type);
        const v = tm.vqLinears.get(hf);
        if (v?.trained) {
          const r = vqTunedBlocks(v, t.rowOrder);
          if (r.note) notes.push(r.note);
          return r.bytes;
        }
        const raw = await t.readRaw();
        if (!l?.trained) return raw;
        return nativeView(l) ? patchBlocks(raw, l, t.rowOrder) : refit(raw, l, t.rowOrder);
      },
      f.name,
    );
    return { bytes, notes };
  }

  // general.file_type names the type most of the weights have (llama.cpp shows it as the model's type).
  const types = [...tm.linears.values()].map((l) => ggmlTypeName(l.origin ? l.origin.type : (ggufTypeOfGrid(l.q) as { type: GgmlType }).type));
  for (const v of tm.vqLinears.values()) types.push(ggmlTypeName(v.origin.type));
  const main = types.length ? types.sort((a, b) => types.filter((t) => t === b).length - types.filter((t) => t === a).length)[0] : 'F16';
  const res = await convertToGguf(base, sink, {
    type: 'F16',
    extraKv: [
      ...provenance,
      ['general.quantized_by', { type: GgufValueType.STRING, value: 'sub4' }],
      ['general.file_type', { type: GgufValueType.UINT32, value: FILE_TYPE[isConvertType(main) ? main : 'F16'] }],
    ],
    override(t) {
      if (tm.norms.has(t.name)) return { type: GgmlType.F32, bytes: async () => normBytes(t, GgmlType.F32) };
      const l = tm.linears.get(t.name);
      const v = tm.vqLinears.get(t.name);
      if ((l?.origin || v) && t.ggmlType !== null) {
        // GGUF blocks of a budget plan's layer: copied, rows back in GGUF order (t.rowOrder set: already in file order).
        if (l?.trained || v?.trained) throw new ExportError('GGUF', `${t.name}: trained scales of a layer sub4 quantized into ${t.type} are not written by this path`);
        const order = t.rowOrder ? null : ggufOrder(tm, t.name, t.shape[0]);
        const type = t.ggmlType;
        return {
          type,
          bytes: async () => {
            const raw = await t.readRaw();
            return order ? applyRowOrder(raw, raw.length / t.shape[0], order) : raw;
          },
        };
      }
      if (!l) return null;
      const g = ggufTypeOfGrid(l.q) as { type: GgmlType; dense: boolean };
      const order = ggufOrder(tm, t.name, l.q.rows);
      if (g.dense) return { type: GgmlType.F16, bytes: async () => encodeTensor(GgmlType.F16, order ? applyRowOrder(dequantizeQ(l.q), l.q.cols, order) : dequantizeQ(l.q)) };
      return { type: g.type, bytes: async () => encodeGrid(l.q, g.type, order) };
    },
  });
  return { bytes: res.bytes, notes: [] };
}
