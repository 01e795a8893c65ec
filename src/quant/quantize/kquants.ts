// llama.cpp's reference K-quant quantizers, ported from ggml-quants.c
// quantize_row_q2_K_ref … quantize_row_q6_K_ref so the bytes equal llama.cpp's.
// Without an importance matrix, llama-quantize reaches exactly these: each
// quantize_qN_K(src, dst, nrow, n_per_row, quant_weights) calls
// quantize_row_qN_K_ref when quant_weights is NULL (checked for Q2_K..Q6_K in
// ggml-org/llama.cpp ggml-quants.c). Arithmetic is f32 as in C (Math.fround at
// each step, see kquants_fit.ts); f16 fields round to nearest even (f32ToF16),
// and codes are recomputed from the f16-rounded scales as C does. Casts follow
// C: int → uint8_t/int8_t wraps modulo 256. Block layouts: docs/formats.md §2.
import { f16ToF32, f32ToF16, writeU16 } from '../f16.ts';
import { GgmlType } from '../formats.ts';
import { encodeQ3KScales, encodeScaleMinK4 } from '../blocks/kscales.ts';
import { GROUP_MAX_EPS, makeQ3Quants, makeQkx2Quants, makeQxQuants, nearestInt } from './kquants_fit.ts';

const fr = Math.fround;
const QK_K = 256;
const RDELTA = fr(0.1);

// Scratch shared by the row quantizers (JS is single-threaded; none of them re-enters).
const Lu = new Uint8Array(QK_K);
const Li = new Int8Array(QK_K);
const weights = new Float32Array(32);
const scales = new Float32Array(16);
const mins = new Float32Array(16);
const isc = new Int32Array(16);
const imn = new Int32Array(16);

function blocksOf(name: string, x: Float32Array, out: Uint8Array, bytesPerBlock: number): number {
  if (x.length % QK_K !== 0) throw new RangeError(`${name}: ${x.length} values is not a multiple of ${QK_K}`);
  const nb = x.length / QK_K;
  if (out.length < nb * bytesPerBlock) throw new RangeError(`${name}: output has ${out.length} bytes, needs ${nb * bytesPerBlock}`);
  return nb;
}

/** qs packing shared by Q2_K and Q3_K: four 2-bit codes 32 apart per byte, per 128 elements. */
function pack2bit(L: Uint8Array | Int8Array, out: Uint8Array, qo: number): void {
  for (let j = 0; j < QK_K; j += 128)
    for (let l = 0; l < 32; l++)
      out[qo + j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
}

/** block_q2_K (84 B): 16 sub-blocks of 16, 2-bit codes, 4-bit scale and min per sub-block. */
export function quantizeRowQ2K(x: Float32Array, out: Uint8Array): void {
  const nb = blocksOf('quantizeRowQ2K', x, out, 84);
  const q4scale = 15;
  for (let i = 0; i < nb; i++) {
    const xb = i * QK_K;
    const o = i * 84;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) weights[l] = Math.abs(x[xb + 16 * j + l]);
      scales[j] = makeQkx2Quants(16, 3, x, xb + 16 * j, weights, Lu, 16 * j, mins, j, -0.5, RDELTA, 15, true);
      if (scales[j] > maxScale) maxScale = scales[j];
      if (mins[j] > maxMin) maxMin = mins[j];
    }
    if (maxScale > 0) {
      const iscale = fr(q4scale / maxScale);
      for (let j = 0; j < 16; j++) out[o + j] = nearestInt(fr(iscale * scales[j])) & 0xff;
      writeU16(out, o + 80, f32ToF16(fr(maxScale / q4scale)));
    } else {
      out.fill(0, o, o + 16);
      writeU16(out, o + 80, f32ToF16(0));
    }
    if (maxMin > 0) {
      const iscale = fr(q4scale / maxMin);
      for (let j = 0; j < 16; j++) out[o + j] |= (nearestInt(fr(iscale * mins[j])) << 4) & 0xff;
      writeU16(out, o + 82, f32ToF16(fr(maxMin / q4scale)));
    } else {
      writeU16(out, o + 82, f32ToF16(0));
    }
    const dAll = f16ToF32(out[o + 80] | (out[o + 81] << 8));
    const mAll = f16ToF32(out[o + 82] | (out[o + 83] << 8));
    for (let j = 0; j < 16; j++) {
      const d = fr(dAll * (out[o + j] & 0xf));
      if (d === 0) continue; // C: if (!d) (NaN goes on); keeps the codes make_qkx2_quants chose
      const dm = fr(mAll * (out[o + j] >> 4));
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fr(fr(x[xb + 16 * j + ii] + dm) / d));
        Lu[16 * j + ii] = l < 0 ? 0 : l > 3 ? 3 : l;
      }
    }
    pack2bit(Lu, out, o + 16);
  }
}

/** block_q3_K (110 B): 16 sub-blocks of 16, 3-bit codes (2 in qs, 1 in hmask), 6-bit signed scales. */
export function quantizeRowQ3K(x: Float32Array, out: Uint8Array): void {
  const nb = blocksOf('quantizeRowQ3K', x, out, 110);
  for (let i = 0; i < nb; i++) {
    const xb = i * QK_K;
    const o = i * 110;
    let maxScale = 0;
    let amax = 0;
    for (let j = 0; j < 16; j++) {
      scales[j] = makeQ3Quants(16, 4, x, xb + 16 * j, Li, 16 * j, true);
      const scale = Math.abs(scales[j]);
      if (scale > amax) {
        amax = scale;
        maxScale = scales[j];
      }
    }
    let dAll = 0;
    if (maxScale !== 0) {
      const iscale = fr(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        const l = (nearestInt(fr(iscale * scales[j])) << 24) >> 24; // int8_t l = nearest_int(…)
        isc[j] = l < -32 ? -32 : l > 31 ? 31 : l;
      }
      encodeQ3KScales(isc, out, o + 96);
      const dBits = f32ToF16(fr(1 / iscale));
      writeU16(out, o + 108, dBits);
      dAll = f16ToF32(dBits);
    } else {
      out.fill(0, o + 96, o + 108);
      writeU16(out, o + 108, f32ToF16(0));
    }
    // With max_scale == 0 every d below is 0 and the codes from make_q3_quants stay.
    for (let j = 0; maxScale !== 0 && j < 16; j++) {
      const d = fr(dAll * isc[j]);
      if (d === 0) continue; // C: if (!d); NaN goes on
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fr(x[xb + 16 * j + ii] / d));
        Li[16 * j + ii] = (l < -4 ? -4 : l > 3 ? 3 : l) + 4;
      }
    }
    // The high bit of element j goes to hmask[j % 32], bit j / 32.
    out.fill(0, o, o + 32);
    for (let j = 0; j < QK_K; j++) {
      if (Li[j] > 3) {
        out[o + (j & 31)] |= 1 << (j >> 5);
        Li[j] -= 4;
      }
    }
    pack2bit(Li, out, o + 32);
  }
}

/**
 * The shared body of Q4_K and Q5_K: 8 sub-blocks of 32 fitted by make_qkx2_quants,
 * 6-bit scales and mins packed get_scale_min_k4-style at o+4, d/dmin at o, o+2;
 * leaves the final codes (0..nmax) in Lu.
 */
function quantizeK4Scales(x: Float32Array, xb: number, out: Uint8Array, o: number, nmax: number, rmin: number, nstep: number): void {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const xo = xb + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[xo + l] * x[xo + l]));
    const avX = fr(Math.sqrt(fr(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = avX + Math.abs(x[xo + l]); // Float32Array store rounds
    scales[j] = makeQkx2Quants(32, nmax, x, xo, weights, Lu, 32 * j, mins, j, rmin, RDELTA, nstep, false);
    if (scales[j] > maxScale) maxScale = scales[j];
    if (mins[j] > maxMin) maxMin = mins[j];
  }
  const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
  for (let j = 0; j < 8; j++) {
    const ls = nearestInt(fr(invScale * scales[j])) & 0xff; // uint8_t, then MIN(63, ·)
    const lm = nearestInt(fr(invMin * mins[j])) & 0xff;
    isc[j] = ls < 63 ? ls : 63;
    imn[j] = lm < 63 ? lm : 63;
  }
  encodeScaleMinK4(isc, imn, out, o + 4);
  const dBits = f32ToF16(fr(maxScale / 63));
  const mBits = f32ToF16(fr(maxMin / 63));
  writeU16(out, o, dBits);
  writeU16(out, o + 2, mBits);
  const dAll = f16ToF32(dBits);
  const mAll = f16ToF32(mBits);
  for (let j = 0; j < 8; j++) {
    const d = fr(dAll * isc[j]);
    if (d === 0) continue; // C: if (!d); NaN goes on
    const dm = fr(mAll * imn[j]);
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(fr(fr(x[xb + 32 * j + ii] + dm) / d));
      Lu[32 * j + ii] = l < 0 ? 0 : l > nmax ? nmax : l;
    }
  }
}

/** block_q4_K (144 B): 8 sub-blocks of 32, 4-bit codes, 6-bit scales and mins. */
export function quantizeRowQ4K(x: Float32Array, out: Uint8Array): void {
  const nb = blocksOf('quantizeRowQ4K', x, out, 144);
  for (let i = 0; i < nb; i++) {
    const o = i * 144;
    quantizeK4Scales(x, i * QK_K, out, o, 15, -1, 20);
    for (let j = 0, q = o + 16; j < QK_K; j += 64, q += 32)
      for (let l = 0; l < 32; l++) out[q + l] = Lu[j + l] | (Lu[j + l + 32] << 4);
  }
}

/** block_q5_K (176 B): as Q4_K with 5-bit codes; the 5th bits go to qh (bits 2c, 2c+1 for chunk c). */
export function quantizeRowQ5K(x: Float32Array, out: Uint8Array): void {
  const nb = blocksOf('quantizeRowQ5K', x, out, 176);
  for (let i = 0; i < nb; i++) {
    const o = i * 176;
    quantizeK4Scales(x, i * QK_K, out, o, 31, -0.5, 15);
    const qh = o + 16;
    out.fill(0, qh, qh + 32);
    let m1 = 1;
    let m2 = 2;
    for (let n = 0, ql = o + 48; n < QK_K; n += 64, ql += 32) {
      for (let j = 0; j < 32; j++) {
        let l1 = Lu[n + j];
        if (l1 > 15) {
          l1 -= 16;
          out[qh + j] |= m1;
        }
        let l2 = Lu[n + j + 32];
        if (l2 > 15) {
          l2 -= 16;
          out[qh + j] |= m2;
        }
        out[ql + j] = l1 | (l2 << 4);
      }
      m1 <<= 2;
      m2 <<= 2;
    }
  }
}

/** block_q6_K (210 B): 16 sub-blocks of 16, 6-bit codes (4 in ql, 2 in qh), int8 scales. */
export function quantizeRowQ6K(x: Float32Array, out: Uint8Array): void {
  const nb = blocksOf('quantizeRowQ6K', x, out, 210);
  for (let i = 0; i < nb; i++) {
    const xb = i * QK_K;
    const o = i * 210;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, x, xb + 16 * ib, Li, 16 * ib, 1, null);
      scales[ib] = scale;
      const absScale = Math.abs(scale);
      if (absScale > maxAbsScale) {
        maxAbsScale = absScale;
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      out.fill(0, o, o + 210); // memset, and d = fp16(0) is 0x0000
      continue;
    }
    const iscale = fr(-128 / maxScale);
    const dBits = f32ToF16(fr(1 / iscale));
    writeU16(out, o + 208, dBits);
    for (let ib = 0; ib < 16; ib++) {
      const l = nearestInt(fr(iscale * scales[ib]));
      isc[ib] = ((l < 127 ? l : 127) << 24) >> 24; // MIN(127, ·) stored in int8_t
      out[o + 192 + ib] = isc[ib] & 0xff;
    }
    const dAll = f16ToF32(dBits);
    for (let j = 0; j < 16; j++) {
      const d = fr(dAll * isc[j]);
      if (d === 0) continue; // C: if (!d); NaN goes on
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fr(x[xb + 16 * j + ii] / d));
        Li[16 * j + ii] = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
      }
    }
    for (let j = 0, ql = o, qh = o + 128; j < QK_K; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const L0 = Li[j + l], L1 = Li[j + l + 32], L2 = Li[j + l + 64], L3 = Li[j + l + 96];
        out[ql + l] = (L0 & 0xf) | ((L2 & 0xf) << 4);
        out[ql + l + 32] = (L1 & 0xf) | ((L3 & 0xf) << 4);
        out[qh + l] = (L0 >> 4) | ((L1 >> 4) << 2) | ((L2 >> 4) << 4) | ((L3 >> 4) << 6);
      }
    }
  }
}

export type KQuantType = GgmlType.Q2_K | GgmlType.Q3_K | GgmlType.Q4_K | GgmlType.Q5_K | GgmlType.Q6_K;

export const KQUANT_QUANTIZERS: Record<KQuantType, { bytesPerBlock: number; quantizeRow: (x: Float32Array, out: Uint8Array) => void }> = {
  [GgmlType.Q2_K]: { bytesPerBlock: 84, quantizeRow: quantizeRowQ2K },
  [GgmlType.Q3_K]: { bytesPerBlock: 110, quantizeRow: quantizeRowQ3K },
  [GgmlType.Q4_K]: { bytesPerBlock: 144, quantizeRow: quantizeRowQ4K },
  [GgmlType.Q5_K]: { bytesPerBlock: 176, quantizeRow: quantizeRowQ5K },
  [GgmlType.Q6_K]: { bytesPerBlock: 210, quantizeRow: quantizeRowQ6K },
};

export function isKQuantType(type: number): type is KQuantType {
  return type in KQUANT_QUANTIZERS;
}

/**
 * Quantize a whole tensor to freshly allocated K-quant blocks. Blocks never
 * straddle rows, so the row length (ne[0]) must be a multiple of 256; pass it
 * to have that checked (llama.cpp falls back to another type otherwise).
 */
export function quantizeKQuant(type: GgmlType, src: Float32Array, rowLength?: number): Uint8Array {
  if (!isKQuantType(type)) throw new RangeError(`quantizeKQuant: ${GgmlType[type] ?? `type ${type}`} is not a K-quant (Q2_K..Q6_K)`);
  if (rowLength !== undefined && (!Number.isInteger(rowLength) || rowLength <= 0 || rowLength % QK_K !== 0 || src.length % rowLength !== 0))
    throw new RangeError(`quantizeKQuant: row length ${rowLength} is not a positive multiple of ${QK_K} dividing ${src.length} values`);
  if (src.length % QK_K !== 0) throw new RangeError(`quantizeKQuant: ${src.length} values is not a multiple of ${QK_K}`);
  const q = KQUANT_QUANTIZERS[type];
  const out = new Uint8Array((src.length / QK_K) * q.bytesPerBlock);
  q.quantizeRow(src, out);
  return out;
}
