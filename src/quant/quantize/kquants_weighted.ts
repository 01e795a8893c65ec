// llama.cpp's importance-weighted K-quant quantizers, written from ggml-quants.c
// quantize_row_q2_K_impl … quantize_row_q6_K_impl (reached through
// quantize_qN_K when quant_weights is non-NULL, i.e. llama-quantize --imatrix).
// They differ from the _ref path ported in kquants.ts: the sub-block fit is
// make_qkx3_quants / the weighted make_qx_quants, and the super-block scales are
// themselves fitted (make_qp_quants / make_qx_quants weighted by the sub-block
// weight sums) instead of max-scaled. `weights` holds one importance per input
// column (length rowLength), the same for every row (docs/formats-2.md §1.4).
// Conventions as in kquants.ts: f32 steps via Math.fround in C's order, f16
// round-to-nearest-even, C integer casts.
import { f16ToF32, f32ToF16, writeU16 } from '../f16.ts';
import { GgmlType } from '../formats.ts';
import { decodeScaleMinK4, encodeScaleMinK4 } from '../blocks/kscales.ts';
import { GROUP_MAX_EPS, makeQxQuants, nearestInt } from './kquants_fit.ts';
import { makeQkx3Quants, makeQpQuants } from './kquants_weighted_fit.ts';
import { type KQuantType, isKQuantType } from './kquants.ts';

const fr = Math.fround;
const QK_K = 256;
const RMIN = fr(-0.9);
const RDELTA = fr(0.05);

// Scratch shared by the row quantizers (single-threaded, none re-enters).
const Lu = new Uint8Array(QK_K);
const Li = new Int8Array(QK_K);
const Ls = new Uint8Array(16);
const Lm = new Uint8Array(16);
const Lsi = new Int8Array(16);
const weight = new Float32Array(32);
const sw = new Float32Array(16);
const scales = new Float32Array(16);
const mins = new Float32Array(16);
const sc = new Int32Array(16);
const mn = new Int32Array(16);

/** Σ x² over one super-block, in float, in order. */
function sumSquares(x: Float32Array, xb: number): number {
  let s = 0;
  for (let j = 0; j < QK_K; j++) s = fr(s + fr(x[xb + j] * x[xb + j]));
  return s;
}

/** weight[l] = qw[l]·sqrtf(sigma2 + x²) for n elements, and their float sum. */
function imatrixWeights(x: Float32Array, xo: number, qw: Float32Array, qo: number, sigma2: number, n: number): number {
  let sumw = 0;
  for (let l = 0; l < n; l++) {
    const xi = x[xo + l];
    weight[l] = fr(qw[qo + l] * fr(Math.sqrt(fr(sigma2 + fr(xi * xi)))));
    sumw = fr(sumw + weight[l]);
  }
  return sumw;
}

function pack2bit(L: Uint8Array | Int8Array, out: Uint8Array, qo: number): void {
  for (let j = 0; j < QK_K; j += 128)
    for (let l = 0; l < 32; l++)
      out[qo + j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
}

/** quantize_row_q2_K_impl: one row of block_q2_K (84 B per 256). */
function rowQ2K(x: Float32Array, xr: number, n: number, qw: Float32Array, out: Uint8Array, or: number): void {
  for (let i = 0; i < n / QK_K; i++) {
    const xb = xr + i * QK_K;
    const o = or + i * 84;
    const sigma2 = fr(sumSquares(x, xb) / QK_K);
    for (let j = 0; j < 16; j++) {
      sw[j] = imatrixWeights(x, xb + 16 * j, qw, QK_K * i + 16 * j, sigma2, 16);
      scales[j] = makeQkx3Quants(16, 3, x, xb + 16 * j, weight, Lu, 16 * j, mins, j, RMIN, RDELTA, 36);
    }
    const dm0 = makeQpQuants(16, 15, scales, Ls, sw);
    const mm0 = makeQpQuants(16, 15, mins, Lm, sw);
    const dBits = f32ToF16(dm0);
    const mBits = f32ToF16(mm0);
    writeU16(out, o + 80, dBits);
    writeU16(out, o + 82, mBits);
    const dm = f16ToF32(dBits);
    const mm = f16ToF32(mBits);
    for (let j = 0; j < 16; j++) out[o + j] = Ls[j] | (Lm[j] << 4);
    for (let j = 0; j < 16; j++) {
      const d = fr(dm * (out[o + j] & 0xf));
      if (d === 0) continue; // C: if (!d)
      const m = fr(mm * (out[o + j] >> 4));
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fr(fr(x[xb + 16 * j + ii] + m) / d));
        Lu[16 * j + ii] = l < 0 ? 0 : l > 3 ? 3 : l;
      }
    }
    pack2bit(Lu, out, o + 16);
  }
}

/** quantize_row_q3_K_impl (weighted branch): one row of block_q3_K (110 B per 256). */
function rowQ3K(x: Float32Array, xr: number, n: number, qw: Float32Array, out: Uint8Array, or: number): void {
  for (let i = 0; i < n / QK_K; i++) {
    const xb = xr + i * QK_K;
    const o = or + i * 110;
    const sigma2 = fr(fr(2 * sumSquares(x, xb)) / QK_K);
    for (let j = 0; j < 16; j++) {
      sw[j] = imatrixWeights(x, xb + 16 * j, qw, QK_K * i + 16 * j, sigma2, 16);
      scales[j] = makeQxQuants(16, 4, x, xb + 16 * j, Li, 16 * j, 1, weight);
    }
    const so = o + 96;
    out.fill(0, so, so + 12);
    const dBlock = makeQxQuants(16, 32, scales, 0, Lsi, 0, 1, sw);
    for (let j = 0; j < 16; j++) {
      const l = Lsi[j];
      if (j < 8) out[so + j] = l & 0xf;
      else out[so + j - 8] |= (l & 0xf) << 4;
      out[so + 8 + (j % 4)] |= (l >> 4) << (2 * (j >> 2));
    }
    const dBits = f32ToF16(dBlock);
    writeU16(out, o + 108, dBits);
    const dAll = f16ToF32(dBits);
    for (let j = 0; j < 16; j++) {
      const lo = j < 8 ? out[so + j] & 0xf : out[so + j - 8] >> 4;
      const s = (((lo | (((out[so + 8 + (j % 4)] >> (2 * (j >> 2))) & 3) << 4)) - 32) << 24) >> 24; // int8_t sc
      const d = fr(dAll * s);
      if (d === 0) continue; // C: if (!d)
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fr(x[xb + 16 * j + ii] / d));
        Li[16 * j + ii] = (l < -4 ? -4 : l > 3 ? 3 : l) + 4;
      }
    }
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
 * The shared body of quantize_row_q4_K_impl / quantize_row_q5_K_impl for one
 * super-block: 8 sub-blocks of 32 fitted by make_qkx3_quants, scales and mins
 * fitted by make_qp_quants(63); leaves the final codes (0..nmax) in Lu.
 * clamp63: Q5_K applies MIN(63, ·) to the 6-bit codes, Q4_K does not.
 */
function k4Block(x: Float32Array, xb: number, qw: Float32Array, qo: number, out: Uint8Array, o: number, nmax: number, clamp63: boolean): void {
  const sigma2 = fr(fr(2 * sumSquares(x, xb)) / QK_K);
  for (let j = 0; j < 8; j++) {
    sw[j] = imatrixWeights(x, xb + 32 * j, qw, qo + 32 * j, sigma2, 32);
    scales[j] = makeQkx3Quants(32, nmax, x, xb + 32 * j, weight, Lu, 32 * j, mins, j, RMIN, RDELTA, 36);
  }
  const dBlock = makeQpQuants(8, 63, scales, Ls, sw);
  const mBlock = makeQpQuants(8, 63, mins, Lm, sw);
  for (let j = 0; j < 8; j++) {
    sc[j] = clamp63 && Ls[j] > 63 ? 63 : Ls[j];
    mn[j] = clamp63 && Lm[j] > 63 ? 63 : Lm[j];
  }
  encodeScaleMinK4(sc, mn, out, o + 4);
  const dBits = f32ToF16(dBlock);
  const mBits = f32ToF16(mBlock);
  writeU16(out, o, dBits);
  writeU16(out, o + 2, mBits);
  const dAll = f16ToF32(dBits);
  const mAll = f16ToF32(mBits);
  decodeScaleMinK4(out, o + 4, sc, mn); // get_scale_min_k4
  for (let j = 0; j < 8; j++) {
    const d = fr(dAll * sc[j]);
    if (d === 0) continue; // C: if (!d)
    const dm = fr(mAll * mn[j]);
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(fr(fr(x[xb + 32 * j + ii] + dm) / d));
      Lu[32 * j + ii] = l < 0 ? 0 : l > nmax ? nmax : l;
    }
  }
}

/** quantize_row_q4_K_impl (weighted branch): block_q4_K, 144 B per 256. */
function rowQ4K(x: Float32Array, xr: number, n: number, qw: Float32Array, out: Uint8Array, or: number): void {
  for (let i = 0; i < n / QK_K; i++) {
    const o = or + i * 144;
    k4Block(x, xr + i * QK_K, qw, QK_K * i, out, o, 15, false);
    for (let j = 0, q = o + 16; j < QK_K; j += 64, q += 32)
      for (let l = 0; l < 32; l++) out[q + l] = Lu[j + l] | (Lu[j + l + 32] << 4);
  }
}

/** quantize_row_q5_K_impl (weighted branch): block_q5_K, 176 B per 256. */
function rowQ5K(x: Float32Array, xr: number, n: number, qw: Float32Array, out: Uint8Array, or: number): void {
  for (let i = 0; i < n / QK_K; i++) {
    const o = or + i * 176;
    k4Block(x, xr + i * QK_K, qw, QK_K * i, out, o, 31, true);
    const qh = o + 16;
    out.fill(0, qh, qh + 32);
    let m1 = 1;
    let m2 = 2;
    for (let nn = 0, ql = o + 48; nn < QK_K; nn += 64, ql += 32) {
      for (let j = 0; j < 32; j++) {
        let l1 = Lu[nn + j];
        if (l1 > 15) {
          l1 -= 16;
          out[qh + j] |= m1;
        }
        let l2 = Lu[nn + j + 32];
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

/** quantize_row_q6_K_impl (weighted branch): make_qx_quants weighted by the raw importances. */
function rowQ6K(x: Float32Array, xr: number, n: number, qw: Float32Array, out: Uint8Array, or: number): void {
  for (let i = 0; i < n / QK_K; i++) {
    const xb = xr + i * QK_K;
    const o = or + i * 210;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      for (let l = 0; l < 16; l++) weight[l] = qw[QK_K * i + 16 * ib + l];
      const scale = makeQxQuants(16, 32, x, xb + 16 * ib, Li, 16 * ib, 1, weight);
      scales[ib] = scale;
      const absScale = Math.abs(scale);
      if (absScale > maxAbsScale) {
        maxAbsScale = absScale;
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      out.fill(0, o, o + 210);
      continue;
    }
    const iscale = fr(-128 / maxScale);
    const dBits = f32ToF16(fr(1 / iscale));
    writeU16(out, o + 208, dBits);
    for (let ib = 0; ib < 16; ib++) {
      const l = nearestInt(fr(iscale * scales[ib]));
      sc[ib] = ((l < 127 ? l : 127) << 24) >> 24; // MIN(127, ·) stored in int8_t
      out[o + 192 + ib] = sc[ib] & 0xff;
    }
    const dAll = f16ToF32(dBits);
    for (let j = 0; j < 16; j++) {
      const d = fr(dAll * sc[j]);
      if (d === 0) continue;
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

type RowFn = (x: Float32Array, xr: number, n: number, qw: Float32Array, out: Uint8Array, or: number) => void;

export const KQUANT_WEIGHTED: Record<KQuantType, { bytesPerBlock: number; row: RowFn }> = {
  [GgmlType.Q2_K]: { bytesPerBlock: 84, row: rowQ2K },
  [GgmlType.Q3_K]: { bytesPerBlock: 110, row: rowQ3K },
  [GgmlType.Q4_K]: { bytesPerBlock: 144, row: rowQ4K },
  [GgmlType.Q5_K]: { bytesPerBlock: 176, row: rowQ5K },
  [GgmlType.Q6_K]: { bytesPerBlock: 210, row: rowQ6K },
};

/**
 * quantize_qN_K with quant_weights: every row of `src` (rows of rowLength, a
 * multiple of 256) quantized with the per-column importances `weights`
 * (length rowLength). Returns freshly allocated blocks.
 */
export function quantizeKQuantWeighted(type: GgmlType, src: Float32Array, rowLength: number, weights: Float32Array): Uint8Array {
  if (!isKQuantType(type)) throw new RangeError(`quantizeKQuantWeighted: ${GgmlType[type] ?? `type ${type}`} is not a K-quant (Q2_K..Q6_K)`);
  if (!Number.isInteger(rowLength) || rowLength <= 0 || rowLength % QK_K !== 0 || src.length % rowLength !== 0)
    throw new RangeError(`quantizeKQuantWeighted: row length ${rowLength} is not a positive multiple of ${QK_K} dividing ${src.length} values`);
  if (weights.length !== rowLength)
    throw new RangeError(`quantizeKQuantWeighted: ${weights.length} importance weights for rows of ${rowLength}`);
  const q = KQUANT_WEIGHTED[type];
  const rowBytes = (rowLength / QK_K) * q.bytesPerBlock;
  const nrow = src.length / rowLength;
  const out = new Uint8Array(nrow * rowBytes);
  for (let r = 0; r < nrow; r++) q.row(src, r * rowLength, rowLength, weights, out, r * rowBytes);
  return out;
}
