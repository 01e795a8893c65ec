// A ReALLM run (src/train/reallm.ts) for llama.cpp: no GGUF type holds a
// learned codebook, so each learned-VQ layer's effective weight W_vq
// (dequantizeVq of the state's VqTensor) is re-encoded into the nearest GGUF
// type at the run's bits, and the LoRA factors go unchanged into adapter.gguf.
// This is approximate by construction; the added error is measured and reported.
//
// The rule (stated in the export choice, the notes and the model card):
// - B = the layer's index bits per weight, ⌊k/d⌋ of its own codebook (--bits B
//   gives k = B·d; a --budget run's layers each have their own), clamped to 1…8 (7 → 6);
// - the candidates are the GGUF types named for B bits (REENCODE_CANDIDATES: 2 →
//   Q2_K, IQ2_S, IQ2_XS; 3 → Q3_K, IQ3_S, IQ3_XXS; 4 → Q4_K, IQ4_XS, IQ4_NL, Q4_0; …),
//   quantized with llama.cpp's own quantizers (ggmlQuantize, byte-identical);
//   the types llama.cpp quantizes only with an importance matrix (IQ2_XS, IQ1_S)
//   get unit importances (plain least squares: no imatrix travels with a run);
// - a row length a candidate's block does not divide falls back as
//   llama-quantize does (tensorTypeFallback: i-quants → IQ4_NL, Q2_K/Q3_K → Q4_0,
//   Q4_K → Q5_0, …, then F16), so a fallback may hold more bits than B;
// - per layer the candidate (after fallback) with the smallest
//   ‖W_gguf − W_vq‖ / ‖W_vq‖ is written; ties go to the first listed.
// The total is √(Σ‖W_gguf − W_vq‖²) / √(Σ‖W_vq‖²) over the re-encoded layers.
// Rows are quantized in the GGUF file's order (q/k of interleaved architectures),
// which leaves every row-wise quantizer's output per row the same.
import { convertToGguf } from './convert/convert.ts';
import { LLAMA_FTYPE, resolveTypeChoice, tensorTypeFallback } from './convert/ftype_mix.ts';
import type { ByteSink } from '../io/gguf/writer.ts';
import { GgufValueType, type GgufKv } from '../io/gguf/types.ts';
import { encodeTensor } from './convert/encode_tensor.ts';
import { BLOCK_FORMATS, GgmlType, ggmlTypeName } from '../quant/formats.ts';
import { ggmlQuantize, quantizeRequiresImatrix } from '../quant/quantize/ggml_quantize.ts';
import { dequantizeVq, type VqTensor } from '../quant/vq/vqtensor.ts';
import { applyRowOrder, ggufQkInterleaved, qkKind, qkRowOrder } from '../arch/names.ts';
import type { TunedModel } from './tuned.ts';

/** The GGUF types named for B bits per weight, the first preferred on ties. */
export const REENCODE_CANDIDATES: Readonly<Record<number, readonly GgmlType[]>> = {
  1: [GgmlType.IQ1_M, GgmlType.IQ1_S],
  2: [GgmlType.Q2_K, GgmlType.IQ2_S, GgmlType.IQ2_XS],
  3: [GgmlType.Q3_K, GgmlType.IQ3_S, GgmlType.IQ3_XXS],
  4: [GgmlType.Q4_K, GgmlType.IQ4_XS, GgmlType.IQ4_NL, GgmlType.Q4_0],
  5: [GgmlType.Q5_K, GgmlType.Q5_0],
  6: [GgmlType.Q6_K],
  8: [GgmlType.Q8_0],
};

/** The run's bits per weight for the rule: ⌊k/d⌋ of the learned codes, clamped to a key of REENCODE_CANDIDATES. */
export function reencodeBits(r: { dim: number; bits: number }): number {
  const b = Math.min(8, Math.max(1, Math.floor(r.bits / r.dim)));
  return b === 7 ? 6 : b;
}

/** The rule in words, for the export choice and the model card; `bits` null: the layers' shapes differ (a --budget run), each at its own. */
export function reencodeRule(bits: number | null): string {
  if (bits === null)
    return 'each learned-codebook layer re-encoded into the nearest GGUF type at its own ⌊k/d⌋ bits per weight (the candidates named for those bits, the one with the smallest ‖W_gguf − W_vq‖/‖W_vq‖; rows a block does not divide fall back as llama-quantize does)';
  return `each learned-codebook layer re-encoded into the nearest ${bits}-bit GGUF type (of ${REENCODE_CANDIDATES[bits].map(ggmlTypeName).join(', ')}, the one with the smallest ‖W_gguf − W_vq‖/‖W_vq‖; rows a block does not divide fall back as llama-quantize does)`;
}

/** A learned-codebook layer's re-encoding bits: reencodeBits of its own (d, k). */
export function layerReencodeBits(q: VqTensor): number {
  return reencodeBits({ dim: q.codebook.dim, bits: Math.ceil(Math.log2(q.codebook.size)) });
}

/** The one re-encoding bits of all learned layers (their (d, k)), or null when they differ. */
export function commonReencodeBits(shapes: Iterable<{ dim: number; bits: number }>): number | null {
  const all = new Set([...shapes].map(reencodeBits));
  return all.size === 1 ? [...all][0] : null;
}

export interface ReencodedLayer {
  name: string;
  /** The bits the candidates were named for (layerReencodeBits). */
  bits: number;
  type: GgmlType;
  /** Every candidate tried: the type asked for, the type written after the shape fallback, its relative error. */
  tried: { asked: GgmlType; type: GgmlType; error: number }[];
  /** ‖W_gguf − W_vq‖ / ‖W_vq‖ of the chosen type. */
  error: number;
  /** ‖W_gguf − W_vq‖², ‖W_vq‖². */
  sq: number;
  norm2: number;
  rows: number;
  cols: number;
  /** The chosen type's bytes, rows in the GGUF file's order. */
  bytes: Uint8Array;
}

export interface Reencoded {
  /** The layers' one re-encoding bits, or null when they differ (each layer has its own, ReencodedLayer.bits). */
  bits: number | null;
  layers: ReencodedLayer[];
  /** √(Σ sq) / √(Σ norm2). */
  error: number;
}

function dequant(type: GgmlType, bytes: Uint8Array, n: number): Float32Array {
  const f = BLOCK_FORMATS[type as keyof typeof BLOCK_FORMATS];
  if (!f) throw new RangeError(`reallm_gguf: no reference dequantizer for ${ggmlTypeName(type)}`);
  const out = new Float32Array(n);
  f.dequantize(bytes, out, n / f.blockSize);
  return out;
}

/** Re-encode one matrix (`w`: rows × cols, the file's row order) by the rule. */
export function reencodeMatrix(name: string, w: Float32Array, rows: number, cols: number, bits: number): ReencodedLayer {
  const candidates = REENCODE_CANDIDATES[bits];
  if (!candidates) throw new RangeError(`reallm_gguf: no GGUF candidates for ${bits} bits per weight`);
  let norm2 = 0;
  for (let i = 0; i < w.length; i++) norm2 += w[i] * w[i];
  const ones = new Float32Array(cols).fill(1);
  const tried: ReencodedLayer['tried'] = [];
  const done = new Map<GgmlType, { bytes: Uint8Array; sq: number }>();
  let best: { type: GgmlType; bytes: Uint8Array; sq: number } | null = null;
  for (const asked of candidates) {
    const type = tensorTypeFallback(cols, asked);
    let r = done.get(type);
    if (!r) {
      const bytes = ggmlQuantize(type, w, rows, cols, quantizeRequiresImatrix(type) ? ones : null);
      const back = dequant(type, bytes, w.length);
      let sq = 0;
      for (let i = 0; i < w.length; i++) sq += (back[i] - w[i]) ** 2;
      r = { bytes, sq };
      done.set(type, r);
    }
    tried.push({ asked, type, error: norm2 > 0 ? Math.sqrt(r.sq / norm2) : 0 });
    if (!best || r.sq < best.sq) best = { type, ...r };
  }
  return { name, bits, type: best!.type, tried, error: norm2 > 0 ? Math.sqrt(best!.sq / norm2) : 0, sq: best!.sq, norm2, rows, cols, bytes: best!.bytes };
}

function ggufOrder(tm: TunedModel, name: string, rows: number): Uint32Array | null {
  const kind = qkKind(name);
  if (!kind || !ggufQkInterleaved(tm.base.config.architecture)) return null;
  return qkRowOrder(rows, kind === 'q' ? tm.base.config.numHeads : tm.base.config.numKvHeads, 'hf_to_gguf');
}

/** Re-encode every learned-codebook layer of a ReALLM run (`learned`: engine name → the state's VqTensor). */
export function reencodeReallm(tm: TunedModel, learned: ReadonlyMap<string, VqTensor>): Reencoded {
  const layers: ReencodedLayer[] = [];
  let sq = 0;
  let norm2 = 0;
  for (const [name, q] of learned) {
    const order = ggufOrder(tm, name, q.rows);
    const w = dequantizeVq(q);
    const l = reencodeMatrix(name, order ? applyRowOrder(w, q.cols, order) : w, q.rows, q.cols, layerReencodeBits(q));
    layers.push(l);
    sq += l.sq;
    norm2 += l.norm2;
  }
  const shapes = [...learned.values()].map((q) => ({ dim: q.codebook.dim, bits: Math.ceil(Math.log2(q.codebook.size)) }));
  return { bits: commonReencodeBits(shapes), layers, error: norm2 > 0 ? Math.sqrt(sq / norm2) : 0 };
}

const pct = (x: number) => `${(100 * x).toFixed(3)} %`;

/** Per layer and in total: the type written and the added error (export notes and the model card). */
export function reencodeNotes(r: Reencoded): string[] {
  const counts = new Map<string, number>();
  for (const l of r.layers) counts.set(ggmlTypeName(l.type), (counts.get(ggmlTypeName(l.type)) ?? 0) + 1);
  return [
    `GGUF re-encoding of the learned codebooks (approximate): added error ‖W_gguf − W_vq‖/‖W_vq‖ ${pct(r.error)} in total over ${r.layers.length} layers (${[...counts].map(([t, n]) => `${n} ${t}`).join(', ')}); rule: ${reencodeRule(r.bits)}`,
    ...r.layers.map((l) => {
      const fell = l.tried.filter((t) => t.type !== t.asked);
      return `${l.name}: ${ggmlTypeName(l.type)}${r.bits === null ? ` (${l.bits}-bit candidates)` : ''}, added error ${pct(l.error)} (tried ${l.tried.map((t) => `${ggmlTypeName(t.asked)}${t.type !== t.asked ? `→${ggmlTypeName(t.type)}` : ''} ${pct(t.error)}`).join(', ')})${fell.length ? `; ${l.cols} columns: shape fallback as llama-quantize` : ''}`;
    }),
  ];
}

/** The GGUF of a ReALLM run: re-encoded layers as chosen, every other tensor converted as for a float base. */
export async function writeReallmGguf(tm: TunedModel, sink: ByteSink, provenance: [string, GgufKv][], r: Reencoded): Promise<{ bytes: number }> {
  const byName = new Map(r.layers.map((l) => [l.name, l]));
  const values = new Map<GgmlType, number>();
  for (const l of r.layers) values.set(l.type, (values.get(l.type) ?? 0) + l.rows * l.cols);
  const main = [...values].sort((a, b) => b[1] - a[1])[0]?.[0] ?? GgmlType.F16;
  const ftype = resolveTypeChoice(ggmlTypeName(main), true)?.ftype ?? 'F16';
  const res = await convertToGguf(tm.base, sink, {
    type: 'F16',
    extraKv: [
      ...provenance,
      ['general.quantized_by', { type: GgufValueType.STRING, value: 'sub4' }],
      ['general.file_type', { type: GgufValueType.UINT32, value: LLAMA_FTYPE[ftype] }],
      ['general.sub4.reencoded_error', { type: GgufValueType.FLOAT32, value: r.error }],
    ],
    override(t) {
      if (tm.norms.has(t.name)) return { type: GgmlType.F32, bytes: async () => encodeTensor(GgmlType.F32, tm.norms.get(t.name)!) };
      const l = byName.get(t.name);
      return l ? { type: l.type, bytes: async () => l.bytes } : null;
    },
  });
  return { bytes: res.bytes };
}
