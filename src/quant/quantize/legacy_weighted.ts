// llama.cpp's importance-weighted quantizers for the 32-element legacy blocks,
// written from ggml-quants.c quantize_row_q4_0_impl / q4_1 / q5_0 / q5_1 (what
// quantize_q4_0 … quantize_q5_1 call per row when quant_weights is non-NULL).
// Q4_0 / Q5_0 fit a symmetric scale with the weighted make_qx_quants; Q4_1 /
// Q5_1 fit scale and min with make_qkx3_quants. Unlike the K-quants, sigma2 is
// taken over the whole row. Q8_0 has no weighted path: quantize_q8_0 ignores
// quant_weights and calls quantize_row_q8_0_ref (ggml_legacy.ts).
// Conventions as in ggml_legacy.ts / kquants_fit.ts (Math.fround per C float step).
import { f32ToF16, writeU16 } from '../f16.ts';
import { GgmlType } from '../formats.ts';
import { makeQxQuants } from './kquants_fit.ts';
import { makeQkx3Quants } from './kquants_weighted_fit.ts';

const fr = Math.fround;
const QK = 32;
const RMIN = fr(-0.9);
const RDELTA = fr(0.05);

const weight = new Float32Array(QK);
const Li = new Int8Array(QK);
const Lu = new Uint8Array(QK);
const minBox = new Float32Array(1);

/** sigma2 = Σx²/n_per_row over the whole row, in float. */
function rowSigma2(x: Float32Array, xr: number, n: number): number {
  let s = 0;
  for (let j = 0; j < n; j++) s = fr(s + fr(x[xr + j] * x[xr + j]));
  return fr(s / n);
}

function blockWeights(x: Float32Array, xb: number, qw: Float32Array, qo: number, sigma2: number): void {
  for (let j = 0; j < QK; j++) weight[j] = fr(qw[qo + j] * fr(Math.sqrt(fr(sigma2 + fr(x[xb + j] * x[xb + j])))));
}

/** The 5th bits of 32 codes as C's uint32 qh (little-endian), low nibbles into qs. */
function pack5(L: Uint8Array | Int8Array, out: Uint8Array, qhAt: number, qsAt: number): void {
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const xi0 = L[j] & 0xff;
    const xi1 = L[j + 16] & 0xff;
    out[qsAt + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
    qh |= ((xi0 & 0x10) >>> 4) << j;
    qh |= ((xi1 & 0x10) >>> 4) << (j + 16);
  }
  out[qhAt] = qh & 0xff;
  out[qhAt + 1] = (qh >>> 8) & 0xff;
  out[qhAt + 2] = (qh >>> 16) & 0xff;
  out[qhAt + 3] = (qh >>> 24) & 0xff;
}

/** quantize_row_q4_0_impl: d = make_qx_quants(32, 8, …, weighted), codes l+8. */
function rowQ4_0(x: Float32Array, xr: number, n: number, qw: Float32Array, out: Uint8Array, or: number): void {
  const sigma2 = rowSigma2(x, xr, n);
  for (let ib = 0; ib < n / QK; ib++) {
    const xb = xr + QK * ib;
    const o = or + 18 * ib;
    blockWeights(x, xb, qw, QK * ib, sigma2);
    const d = makeQxQuants(QK, 8, x, xb, Li, 0, 1, weight);
    writeU16(out, o, f32ToF16(d));
    for (let j = 0; j < 16; j++) out[o + 2 + j] = Li[j] | (Li[j + 16] << 4);
  }
}

/** quantize_row_q4_1_impl: scale and min from make_qkx3_quants(32, 15, rmin −0.9, rdelta 0.05, 36 steps). */
function rowQ4_1(x: Float32Array, xr: number, n: number, qw: Float32Array, out: Uint8Array, or: number): void {
  const sigma2 = rowSigma2(x, xr, n);
  for (let ib = 0; ib < n / QK; ib++) {
    const xb = xr + QK * ib;
    const o = or + 20 * ib;
    blockWeights(x, xb, qw, QK * ib, sigma2);
    const d = makeQkx3Quants(QK, 15, x, xb, weight, Lu, 0, minBox, 0, RMIN, RDELTA, 36);
    writeU16(out, o, f32ToF16(d));
    writeU16(out, o + 2, f32ToF16(-minBox[0]));
    for (let j = 0; j < 16; j++) out[o + 4 + j] = Lu[j] | (Lu[j + 16] << 4);
  }
}

/** quantize_row_q5_0_impl: d = make_qx_quants(32, 16, …, weighted), codes l+16. */
function rowQ5_0(x: Float32Array, xr: number, n: number, qw: Float32Array, out: Uint8Array, or: number): void {
  const sigma2 = rowSigma2(x, xr, n);
  for (let ib = 0; ib < n / QK; ib++) {
    const xb = xr + QK * ib;
    const o = or + 22 * ib;
    blockWeights(x, xb, qw, QK * ib, sigma2);
    const d = makeQxQuants(QK, 16, x, xb, Li, 0, 1, weight);
    writeU16(out, o, f32ToF16(d));
    pack5(Li, out, o + 2, o + 6);
  }
}

/** quantize_row_q5_1_impl: make_qkx3_quants(32, 31, …). */
function rowQ5_1(x: Float32Array, xr: number, n: number, qw: Float32Array, out: Uint8Array, or: number): void {
  const sigma2 = rowSigma2(x, xr, n);
  for (let ib = 0; ib < n / QK; ib++) {
    const xb = xr + QK * ib;
    const o = or + 24 * ib;
    blockWeights(x, xb, qw, QK * ib, sigma2);
    const d = makeQkx3Quants(QK, 31, x, xb, weight, Lu, 0, minBox, 0, RMIN, RDELTA, 36);
    writeU16(out, o, f32ToF16(d));
    writeU16(out, o + 2, f32ToF16(-minBox[0]));
    pack5(Lu, out, o + 4, o + 8);
  }
}

export type LegacyWeightedType = GgmlType.Q4_0 | GgmlType.Q4_1 | GgmlType.Q5_0 | GgmlType.Q5_1;

type RowFn = (x: Float32Array, xr: number, n: number, qw: Float32Array, out: Uint8Array, or: number) => void;

export const LEGACY_WEIGHTED: Record<LegacyWeightedType, { bytesPerBlock: number; row: RowFn }> = {
  [GgmlType.Q4_0]: { bytesPerBlock: 18, row: rowQ4_0 },
  [GgmlType.Q4_1]: { bytesPerBlock: 20, row: rowQ4_1 },
  [GgmlType.Q5_0]: { bytesPerBlock: 22, row: rowQ5_0 },
  [GgmlType.Q5_1]: { bytesPerBlock: 24, row: rowQ5_1 },
};

export function isLegacyWeightedType(type: number): type is LegacyWeightedType {
  return type in LEGACY_WEIGHTED;
}

/**
 * quantize_q4_0 … quantize_q5_1 with quant_weights: rows of rowLength (a
 * multiple of 32), one importance per column (length rowLength).
 */
export function quantizeLegacyWeighted(type: GgmlType, src: Float32Array, rowLength: number, weights: Float32Array): Uint8Array {
  if (!isLegacyWeightedType(type))
    throw new RangeError(`quantizeLegacyWeighted: ${GgmlType[type] ?? `type ${type}`} has no importance-weighted path (Q4_0, Q4_1, Q5_0, Q5_1 only; Q8_0 ignores weights)`);
  if (!Number.isInteger(rowLength) || rowLength <= 0 || rowLength % QK !== 0 || src.length % rowLength !== 0)
    throw new RangeError(`quantizeLegacyWeighted: row length ${rowLength} is not a positive multiple of ${QK} dividing ${src.length} values`);
  if (weights.length !== rowLength) throw new RangeError(`quantizeLegacyWeighted: ${weights.length} importance weights for rows of ${rowLength}`);
  const q = LEGACY_WEIGHTED[type];
  const rowBytes = (rowLength / QK) * q.bytesPerBlock;
  const nrow = src.length / rowLength;
  const out = new Uint8Array(nrow * rowBytes);
  for (let r = 0; r < nrow; r++) q.row(src, r * rowLength, rowLength, weights, out, r * rowBytes);
  return out;
}
