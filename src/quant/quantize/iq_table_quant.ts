// llama.cpp's quantizers for the table-valued and ternary types, written from
// ggml-quants.c: quantize_iq4_nl / quantize_iq4_xs (both through
// quantize_row_iq4_nl_impl, with or without importance weights), and the
// weight-ignoring quantize_tq1_0 / quantize_tq2_0 / quantize_mxfp4 /
// quantize_nvfp4 (quantize_row_*_ref). Conventions as in kquants_fit.ts: each
// C float step rounded with Math.fround in C's order; C integer casts.
// Block layouts (ggml-common.h): block_iq4_nl {d f16, qs[16]} 18 B / 32;
// block_iq4_xs {d f16, scales_h u16, scales_l[4], qs[128]} 136 B / 256;
// block_tq1_0 {qs[48], qh[4], d f16} 54 B / 256; block_tq2_0 {qs[64], d f16}
// 66 B / 256; block_mxfp4 {e (E8M0), qs[16]} 17 B / 32; block_nvfp4 {d[4]
// (UE4M3), qs[32]} 36 B / 64.
import { f32FromBits, f32Bits, f32ToF16, writeU16 } from '../f16.ts';
import { GROUP_MAX_EPS, nearestInt } from './kquants_fit.ts';

const fr = Math.fround;
const QK_K = 256;

/** ggml-common.h kvalues_iq4nl. */
export const KVALUES_IQ4NL = Int8Array.of(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
/** ggml-common.h kvalues_fp4 (= kvalues_mxfp4): E2M1 values, doubled. */
export const KVALUES_FP4 = Int8Array.of(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);

/** best_index_int8: index of the table value nearest x (sorted table, lower index on ties). */
function bestIndexInt8(val: Int8Array, x: number): number {
  if (x <= val[0]) return 0;
  if (x >= val[15]) return 15;
  let ml = 0;
  let mu = 15;
  while (mu - ml > 1) {
    const mav = (ml + mu) >> 1;
    if (x < val[mav]) mu = mav;
    else ml = mav;
  }
  return fr(x - val[mu - 1]) < fr(val[mu] - x) ? mu - 1 : mu;
}

const L = new Uint8Array(QK_K);
const weight = new Float32Array(32);
const scales = new Float32Array(8);

/**
 * quantize_row_iq4_nl_impl with block_size 32 and ntry 7 (what quantize_iq4_nl
 * and quantize_iq4_xs pass): one super-block of sbs (32 for IQ4_NL, 256 for
 * IQ4_XS) at x[xo], importances qw[qo..] or none. Writes the block at out[o].
 */
function iq4Block(x: Float32Array, xo: number, sbs: number, qw: Float32Array | null, qo: number, out: Uint8Array, o: number): void {
  const ntry = 7;
  const values = KVALUES_IQ4NL;
  const v0 = values[0];
  let sigma2 = 0;
  for (let j = 0; j < sbs; j++) sigma2 = fr(sigma2 + fr(x[xo + j] * x[xo + j]));
  sigma2 = fr(sigma2 * fr(2 / sbs));
  const nb = sbs / 32;
  const qsAt = nb > 1 ? o + 8 : o + 2;
  out.fill(0, qsAt, qsAt + sbs / 2);
  let maxScale = 0;
  let amaxScale = 0;
  for (let ib = 0; ib < nb; ib++) {
    const xb = xo + ib * 32;
    if (qw) {
      for (let j = 0; j < 32; j++) weight[j] = fr(qw[qo + ib * 32 + j] * fr(Math.sqrt(fr(sigma2 + fr(x[xb + j] * x[xb + j])))));
    } else {
      for (let j = 0; j < 32; j++) weight[j] = fr(x[xb + j] * x[xb + j]);
    }
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const ax = Math.abs(x[xb + j]);
      if (ax > amax) {
        amax = ax;
        max = x[xb + j];
      }
    }
    if (amax < GROUP_MAX_EPS) {
      scales[ib] = 0;
      continue;
    }
    let d = fr(-max / v0); // ntry > 0
    let id = fr(1 / d);
    let sumqx = 0;
    let sumq2 = 0;
    for (let j = 0; j < 32; j++) {
      const xj = x[xb + j];
      const l = bestIndexInt8(values, fr(id * xj));
      L[ib * 32 + j] = l;
      const q = values[l];
      const wq = fr(weight[j] * q);
      sumqx = fr(sumqx + fr(wq * xj));
      sumq2 = fr(sumq2 + fr(wq * q));
    }
    d = sumq2 > 0 ? fr(sumqx / sumq2) : 0;
    let best = fr(d * sumqx);
    for (let itry = -ntry; itry <= ntry; itry++) {
      id = fr((itry + v0) / max);
      sumqx = 0;
      sumq2 = 0;
      for (let j = 0; j < 32; j++) {
        const xj = x[xb + j];
        const q = values[bestIndexInt8(values, fr(id * xj))];
        const wq = fr(weight[j] * q);
        sumqx = fr(sumqx + fr(wq * xj));
        sumq2 = fr(sumq2 + fr(wq * q));
      }
      if (sumq2 > 0 && fr(sumqx * sumqx) > fr(best * sumq2)) {
        d = fr(sumqx / sumq2);
        best = fr(d * sumqx);
      }
    }
    scales[ib] = d;
    const absD = Math.abs(d);
    if (absD > amaxScale) {
      amaxScale = absD;
      maxScale = d;
    }
  }
  if (nb > 1) {
    const d = fr(-maxScale / 32);
    writeU16(out, o, f32ToF16(d));
    const id = d ? fr(1 / d) : 0;
    let scalesH = 0;
    for (let ib = 0; ib < nb; ib++) {
      let l = nearestInt(fr(id * scales[ib]));
      l = l < -32 ? -32 : l > 31 ? 31 : l;
      const dl = fr(d * l);
      const idl = dl ? fr(1 / dl) : 0;
      const xb = xo + ib * 32;
      for (let j = 0; j < 32; j++) L[ib * 32 + j] = bestIndexInt8(values, fr(idl * x[xb + j]));
      l += 32;
      const lLow = l & 0xf;
      if (ib % 2 === 0) out[o + 4 + (ib >> 1)] = lLow;
      else out[o + 4 + (ib >> 1)] |= lLow << 4;
      scalesH |= (l >> 4) << (2 * (ib % 8));
    }
    writeU16(out, o + 2, scalesH & 0xffff);
  } else {
    writeU16(out, o, f32ToF16(scales[0]));
    const id = scales[0] ? fr(1 / scales[0]) : 0;
    for (let j = 0; j < sbs; j++) L[j] = bestIndexInt8(values, fr(id * x[xo + j]));
  }
  for (let i = 0; i < sbs / 32; i++)
    for (let j = 0; j < 16; j++) out[qsAt + 16 * i + j] = L[32 * i + j] | (L[32 * i + 16 + j] << 4);
}

function iq4Rows(name: string, sbs: number, bpb: number, src: Float32Array, rowLength: number, weights: Float32Array | null): Uint8Array {
  checkRows(name, src, rowLength, sbs);
  if (weights && weights.length !== rowLength) throw new RangeError(`${name}: ${weights.length} importance weights for rows of ${rowLength}`);
  const nblock = rowLength / sbs;
  const nrow = src.length / rowLength;
  const out = new Uint8Array(nrow * nblock * bpb);
  for (let r = 0; r < nrow; r++)
    for (let ibl = 0; ibl < nblock; ibl++) iq4Block(src, r * rowLength + ibl * sbs, sbs, weights, ibl * sbs, out, (r * nblock + ibl) * bpb);
  return out;
}

function checkRows(name: string, src: Float32Array, rowLength: number, blockSize: number): void {
  if (!Number.isInteger(rowLength) || rowLength <= 0 || rowLength % blockSize !== 0 || src.length % rowLength !== 0)
    throw new RangeError(`${name}: row length ${rowLength} is not a positive multiple of ${blockSize} dividing ${src.length} values`);
}

/** quantize_iq4_nl: 32-element blocks, one f16 scale, codes into kvalues_iq4nl; weights optional. */
export function quantizeIQ4_NL(src: Float32Array, rowLength: number, weights: Float32Array | null): Uint8Array {
  return iq4Rows('quantizeIQ4_NL', 32, 18, src, rowLength, weights);
}

/** quantize_iq4_xs: 256-element super-blocks of 8 × 32 with 6-bit sub-scales; weights optional. */
export function quantizeIQ4_XS(src: Float32Array, rowLength: number, weights: Float32Array | null): Uint8Array {
  return iq4Rows('quantizeIQ4_XS', QK_K, 136, src, rowLength, weights);
}

/** lroundf: round half away from zero. */
function lroundf(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/** amax over 256 values and 1/amax (0 when amax is 0), as quantize_row_tq*_0_ref compute them. */
function tqScale(x: Float32Array, xb: number): [d: number, id: number] {
  let amax = 0;
  for (let j = 0; j < QK_K; j++) {
    const a = Math.abs(x[xb + j]);
    amax = amax > a ? amax : a; // MAX(amax, fabsf(v))
  }
  return [amax, amax ? fr(1 / amax) : 0];
}

/** 5 trits per byte for `width` bytes: byte m holds x[m + width·n], n = 0..4, most significant first. */
function tq1Bytes(src: Float32Array, xb: number, id: number, width: number, out: Uint8Array, at: number): void {
  for (let m = 0; m < width; m++) {
    let q = 0;
    for (let n = 0; n < 5; n++) q = (q * 3 + lroundf(fr(src[xb + m + n * width] * id)) + 1) & 0xff; // uint8_t q *= 3; q += xi
    out[at + m] = ((q * 256 + 242) / 243) | 0; // ceiling division by 243
  }
}

/** quantize_row_tq1_0_ref: trits, 5 per byte (qs) and 4 per byte (qh), stored as ⌈q·256/243⌉. */
export function quantizeTQ1_0(src: Float32Array): Uint8Array {
  checkRows('quantizeTQ1_0', src, src.length || QK_K, QK_K);
  const nb = src.length / QK_K;
  const out = new Uint8Array(nb * 54);
  for (let i = 0; i < nb; i++) {
    let xb = i * QK_K;
    const o = i * 54;
    const [d, id] = tqScale(src, xb);
    writeU16(out, o + 52, f32ToF16(d));
    // 32 bytes of 5 trits (x[m + 32n]), then 16 bytes of 5 trits (x[m + 16n]).
    tq1Bytes(src, xb, id, 32, out, o);
    tq1Bytes(src, xb + 160, id, 16, out, o + 32);
    xb += 240;
    for (let j = 0; j < 4; j++) {
      let q = 0;
      for (let m = 0; m < 4; m++) q = (q * 3 + lroundf(fr(src[xb + j + m * 4] * id)) + 1) & 0xff;
      q = (q * 3) & 0xff;
      out[o + 48 + j] = ((q * 256 + 242) / 243) | 0;
    }
  }
  return out;
}

/** quantize_row_tq2_0_ref: 2-bit codes (trit + 1), four 32 apart per byte. */
export function quantizeTQ2_0(src: Float32Array): Uint8Array {
  checkRows('quantizeTQ2_0', src, src.length || QK_K, QK_K);
  const nb = src.length / QK_K;
  const out = new Uint8Array(nb * 66);
  for (let i = 0; i < nb; i++) {
    const o = i * 66;
    const [d, id] = tqScale(src, i * QK_K);
    writeU16(out, o + 64, f32ToF16(d));
    for (let j = 0; j < 64; j += 32) {
      const xb = i * QK_K + j * 4;
      for (let m = 0; m < 32; m++) {
        let q = 0;
        for (let n = 0; n < 4; n++) q += ((lroundf(fr(src[xb + m + n * 32] * id)) + 1) & 3) << (2 * n);
        out[o + j + m] = q & 0xff;
      }
    }
  }
  return out;
}

/** best_index_mxfp4: nearest kvalues_fp4[i]·e to x by |·|, first index on ties. */
function bestIndexFp4(x: number, e: number): number {
  let best = 0;
  let bestErr = Math.abs(fr(fr(KVALUES_FP4[0] * e) - x));
  for (let i = 1; i < 16; i++) {
    const err = Math.abs(fr(fr(KVALUES_FP4[i] * e) - x));
    if (err < bestErr) {
      best = i;
      bestErr = err;
    }
  }
  return best;
}

/** ggml_e8m0_to_fp32_half: 2^(e−128) (half the E8M0 value, matching the doubled table). */
function e8m0ToF32Half(e: number): number {
  return f32FromBits(e < 2 ? 0x00200000 << e : (e - 1) << 23);
}

/** quantize_row_mxfp4_ref: E8M0 exponent floor(log2 amax) − 2, codes by exhaustive nearest search. */
export function quantizeMXFP4(src: Float32Array): Uint8Array {
  checkRows('quantizeMXFP4', src, src.length || 32, 32);
  const nb = src.length / 32;
  const out = new Uint8Array(nb * 17);
  for (let i = 0; i < nb; i++) {
    const xb = i * 32;
    const o = i * 17;
    let amax = 0;
    for (let j = 0; j < 32; j++) if (amax < Math.abs(src[xb + j])) amax = Math.abs(src[xb + j]);
    // (uint8_t)(floorf(log2f(amax)) − 2 + 127); log2f taken as the f32 rounding of log2.
    const e = amax > 0 ? Math.trunc(Math.floor(fr(Math.log2(amax))) - 2 + 127) & 0xff : 0;
    const d = e8m0ToF32Half(e);
    out[o] = e;
    for (let j = 0; j < 16; j++) out[o + 1 + j] = bestIndexFp4(src[xb + j], d) | (bestIndexFp4(src[xb + 16 + j], d) << 4);
  }
  return out;
}

/** ggml_fp32_to_ue4m3: unsigned E4M3 (bias 7), mantissa rounded by its next bit, saturating at 0x7E. */
export function f32ToUe4m3(x: number): number {
  if (!(x > 0)) return 0;
  if (x > 448) x = 448;
  const bits = f32Bits(x);
  let exp = ((bits >>> 23) & 0xff) - 127 + 7;
  const man0 = (bits >>> 20) & 0x7;
  if (exp <= 0) {
    let man = Math.trunc(fr(fr(x * 512) + 0.5));
    if (man > 7) man = 7;
    if (man < 1) return 0;
    return man;
  }
  if (exp >= 15) return 0x7e;
  let man = man0 + ((bits >>> 19) & 1);
  if (man > 7) {
    man = 0;
    exp++;
    if (exp >= 15) return 0x7e;
  }
  return (exp << 3) | man;
}

/** ggml_ue4m3_to_fp32: the UE4M3 value times 0.5 (0 and 0x7F read as 0). */
export function ue4m3ToF32Half(u: number): number {
  if (u === 0 || u === 0x7f) return 0;
  const exp = (u >> 3) & 0xf;
  const man = u & 7;
  const raw = exp === 0 ? man * 2 ** -9 : (1 + man / 8) * 2 ** (exp - 7);
  return raw * 0.5;
}

/** quantize_row_nvfp4_ref: 64-element blocks of four 16-element sub-blocks, UE4M3 scale amax/6 each. */
export function quantizeNVFP4(src: Float32Array): Uint8Array {
  checkRows('quantizeNVFP4', src, src.length || 64, 64);
  const nb = src.length / 64;
  const out = new Uint8Array(nb * 36);
  for (let i = 0; i < nb; i++) {
    const o = i * 36;
    for (let s = 0; s < 4; s++) {
      const xb = i * 64 + s * 16;
      let amax = 0;
      for (let j = 0; j < 16; j++) if (amax < Math.abs(src[xb + j])) amax = Math.abs(src[xb + j]);
      const ue = f32ToUe4m3(fr(amax / 6));
      out[o + s] = ue;
      const d = ue4m3ToF32Half(ue);
      for (let j = 0; j < 8; j++) out[o + 4 + s * 8 + j] = bestIndexFp4(src[xb + j], d) | (bestIndexFp4(src[xb + 8 + j], d) << 4);
    }
  }
  return out;
}
