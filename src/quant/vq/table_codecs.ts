// Codecs of the 16-value-table, FP4 and ternary ggml types (IQ4_NL, IQ4_XS,
// MXFP4, NVFP4, TQ1_0, TQ2_0): lossless ggml blocks ⇄ VqTensor (dim-1,
// unsigned codebooks), the exact trainable view and the refit of free scales.
// Block layouts from llama.cpp ggml/src/ggml-common.h (block_iq4_nl,
// block_iq4_xs, block_mxfp4, block_nvfp4, block_tq1_0, block_tq2_0) and the
// dequantize_row_* functions in ggml/src/ggml-quants.c; the reference
// dequantizers are src/quant/blocks/iq4.ts and fp4_ternary.ts.
//
//   type    table (index bits)            group  scale of a group              origin.d (per)        origin.sub
//   IQ4_NL  kvalues_iq4nl (4)             32     f16 d                          fp16 d (block)        null
//   IQ4_XS  kvalues_iq4nl (4)             32     f32(d·(ls − 32))               fp16 d (block)        ls, 6-bit as stored
//   MXFP4   kvalues_fp4 (4)               32     2^(e − 128) (e8m0 "half")      e8m0 byte (block)     null
//   NVFP4   kvalues_fp4 (4)               16     ue4m3(x)·0.5 (ggml's ×0.5)     ue4m3 byte (16 wts)   null
//   TQ1_0   {−1, 0, 1} (2)                256    f16 d                          fp16 d (block)        null
//   TQ2_0   {−1, 0, 1, 2} (2)             256    f16 d                          fp16 d (block)        null
// TQ2_0's 2-bit field decodes (q − 1)·d for q = 0..3 (dequantize_row_tq2_0);
// llama.cpp's quantizer never writes q = 3, but a fourth table entry 2 keeps
// decode lossless for every byte. TQ1_0's bytes are re-packed canonically
// (⌈v·256/243⌉, as quantize_row_tq1_0_ref writes them): a byte another writer
// rounded differently decodes to the same trits but is not reproduced.
import { f16Table, f16ToF32, f32ToF16, writeU16 } from '../f16.ts';
import { GgmlType } from '../formats.ts';
import { superblockParametrization } from '../parametrize.ts';
import { tq1Trit } from '../blocks/fp4_ternary.ts';
import type { VqCodec, VqOrigin } from './codec.ts';
import { emptyVqTensor } from './vqtensor.ts';
import { FP4_CODECS } from './fp4_codecs.ts';
import { IQ4NL_CODEBOOK, TERNARY_CODEBOOK, TQ2_CODEBOOK, checkDecode, checkEncode, checkScales, nibbles32, putNibbles32, relErr, type Geometry } from './table_common.ts';

export { FP4_CODEBOOK, IQ4NL_CODEBOOK, TERNARY_CODEBOOK, TQ2_CODEBOOK } from './table_common.ts';

// ---- Types with one fp16 d per block and a = 1 for every group (IQ4_NL, TQ1_0, TQ2_0).

interface PlainD extends Geometry {
  dOffset: number;
  /** Fill the index words of one block (the row's words from `w`). */
  unpack(b: Uint8Array, o: number, codes: Uint32Array, w: number): void;
  pack(codes: Uint32Array, w: number, out: Uint8Array, o: number): void;
}

function plainDCodec(g: PlainD): VqCodec {
  const wordsPerBlock = (g.blockSize * g.bits) / 32;
  return {
    type: g.type,
    blockSize: g.blockSize,
    bytesPerBlock: g.bytesPerBlock,
    decode(bytes, rows, cols) {
      const nb = checkDecode(g, bytes, rows, cols);
      const q = emptyVqTensor(rows, cols, g.codebook, g.group, false, g.bits);
      const origin: VqOrigin = { type: g.type, d: new Uint16Array(nb), sub: null };
      const f16 = f16Table();
      // group = block and words of a row = blocks back to back: block b is group b and words b·wordsPerBlock.
      for (let b = 0; b < nb; b++) {
        const o = b * g.bytesPerBlock;
        const bits = bytes[o + g.dOffset] | (bytes[o + g.dOffset + 1] << 8);
        origin.d[b] = bits;
        q.scale[b] = f16[bits];
        g.unpack(bytes, o, q.codes, b * wordsPerBlock);
      }
      return { q, origin };
    },
    encode(q, origin) {
      const nb = checkEncode(g, q, origin, 1, 0);
      const out = new Uint8Array(nb * g.bytesPerBlock);
      for (let b = 0; b < nb; b++) {
        const o = b * g.bytesPerBlock;
        writeU16(out, o + g.dOffset, origin.d[b]);
        g.pack(q.codes, b * wordsPerBlock, out, o);
      }
      return out;
    },
    exactView(q, origin) {
      checkScales(g, origin.d.length, 'the tensor scale', q.scale.length);
      return superblockParametrization(Float32Array.from(origin.d, f16ToF32), null, new Float32Array(origin.d.length).fill(1), null, 1);
    },
    withExactTheta(origin, theta) {
      checkScales(g, origin.d.length, 'θ', theta.length);
      return { type: origin.type, d: Uint16Array.from(theta, f32ToF16), sub: null };
    },
    refit(origin, scale) {
      checkScales(g, origin.d.length, 'the target scale', scale.length);
      const d = origin.d.slice();
      let maxRelErr = 0;
      for (let b = 0; b < d.length; b++) {
        if (f16ToF32(d[b]) === scale[b]) continue; // already stored exactly: keep the bits
        d[b] = f32ToF16(scale[b]);
        maxRelErr = Math.max(maxRelErr, relErr(f16ToF32(d[b]), scale[b]));
      }
      return { origin: { type: origin.type, d, sub: null }, maxRelErr };
    },
  };
}

// IQ4_NL (block_iq4_nl, 18 B): f16 d at 0; qs[16] at 2.
const IQ4_NL = plainDCodec({
  type: GgmlType.IQ4_NL, name: 'IQ4_NL', blockSize: 32, bytesPerBlock: 18, group: 32, codebook: IQ4NL_CODEBOOK, bits: 4, dOffset: 0,
  unpack: (b, o, codes, w) => nibbles32(b, o + 2, codes, w),
  pack: (codes, w, out, o) => putNibbles32(codes, w, out, o + 2),
});

// TQ2_0 (block_tq2_0, 66 B): qs[64]; f16 d at 64. Index word w of the block
// (weights 16w..16w+15) reads the 2-bit field at 2·((w >> 1) & 3) of bytes
// 32·(w >> 3) + 16·(w & 1) + i (dequantize_row_tq2_0's j, l, m loops).
const TQ2_0 = plainDCodec({
  type: GgmlType.TQ2_0, name: 'TQ2_0', blockSize: 256, bytesPerBlock: 66, group: 256, codebook: TQ2_CODEBOOK, bits: 2, dOffset: 64,
  unpack(b, o, codes, w0) {
    for (let w = 0; w < 16; w++) {
      const base = o + 32 * (w >> 3) + 16 * (w & 1);
      const sh = 2 * ((w >> 1) & 3);
      let x = 0;
      for (let i = 0; i < 16; i++) x |= ((b[base + i] >> sh) & 3) << (2 * i);
      codes[w0 + w] = x >>> 0;
    }
  },
  pack(codes, w0, out, o) {
    for (let w = 0; w < 16; w++) {
      const base = o + 32 * (w >> 3) + 16 * (w & 1);
      const sh = 2 * ((w >> 1) & 3);
      const x = codes[w0 + w];
      for (let i = 0; i < 16; i++) out[base + i] |= ((x >>> (2 * i)) & 3) << sh;
    }
  },
});

// TQ1_0 (block_tq1_0, 54 B): qs[48]; qh[4]; f16 d at 52. Weight e is trit
// TQ1_TRIT[e] of byte TQ1_BYTE[e] (dequantize_row_tq1_0); a byte of trits
// t_0..t_4 (t_4 = 0 in qh) is ⌈(Σ t_n·3^(4−n))·256/243⌉ (quantize_row_tq1_0_ref).
const TRITS = new Uint8Array(256 * 5);
for (let x = 0; x < 256; x++) for (let n = 0; n < 5; n++) TRITS[x * 5 + n] = tq1Trit(x, n);
const POW3_DESC = [81, 27, 9, 3, 1];
/** The weight held by trit n of byte j of a TQ1_0 block (the inverse of TQ1_BYTE / TQ1_TRIT). */
function tq1Weight(j: number, n: number): number {
  return j < 32 ? 32 * n + j : j < 48 ? 160 + 16 * n + (j - 32) : 240 + 4 * n + (j - 48);
}
const TQ1_0 = plainDCodec({
  type: GgmlType.TQ1_0, name: 'TQ1_0', blockSize: 256, bytesPerBlock: 54, group: 256, codebook: TERNARY_CODEBOOK, bits: 2, dOffset: 52,
  // Byte by byte: qs[m] (m < 32) holds weights 32n + m: word 2n + (m >> 4); qs[32 + m] weights 160 + 16n + m: word 10 + n;
  // qh[j] weights 240 + 4n + j: word 15 (TQ1_BYTE / TQ1_TRIT in closed form).
  unpack(b, o, codes, w0) {
    for (let m = 0; m < 32; m++) {
      const x = b[o + m] * 5;
      const w = w0 + (m >> 4);
      const sh = 2 * (m & 15);
      for (let n = 0; n < 5; n++) codes[w + 2 * n] |= TRITS[x + n] << sh;
    }
    for (let m = 0; m < 16; m++) {
      const x = b[o + 32 + m] * 5;
      for (let n = 0; n < 5; n++) codes[w0 + 10 + n] |= TRITS[x + n] << (2 * m);
    }
    let last = 0;
    for (let j = 0; j < 4; j++) {
      const x = b[o + 48 + j] * 5;
      for (let n = 0; n < 4; n++) last |= TRITS[x + n] << (2 * (4 * n + j));
    }
    codes[w0 + 15] = last >>> 0;
  },
  pack(codes, w0, out, o) {
    for (let j = 0; j < 52; j++) {
      let v = 0;
      for (let n = 0; n < (j < 48 ? 5 : 4); n++) {
        const e = tq1Weight(j, n);
        const t = (codes[w0 + (e >> 4)] >>> (2 * (e & 15))) & 3;
        if (t > 2) throw new RangeError(`TQ1_0: index ${t} is outside the ternary table`);
        v += t * POW3_DESC[n];
      }
      out[o + j] = Math.floor((v * 256 + 242) / 243);
    }
  },
});

// ---- IQ4_XS (block_iq4_xs, 136 B): f16 d at 0; u16 scales_h at 2; u8 scales_l[4] at 4; qs[128] at 8.
// Sub-block ib's 6-bit ls: nibble ib of scales_l | 2 bits ib of scales_h << 4 (dequantize_row_iq4_xs); scale = f32(d·(ls − 32)).

const IQ4_XS_G: Geometry = { type: GgmlType.IQ4_XS, name: 'IQ4_XS', blockSize: 256, bytesPerBlock: 136, group: 32, codebook: IQ4NL_CODEBOOK, bits: 4 };

/** Best fp16 d and 6-bit ls (a = ls − 32 ∈ [−32, 31]) for 8 target scales; returns the summed squared error and writes d bits and ls. */
function fitXsBlock(t: Float32Array, d0: number, ls: Int32Array): number {
  let big = 0;
  for (let j = 0; j < 8; j++) if (Math.abs(t[j]) > Math.abs(big)) big = t[j];
  if (big === 0) {
    ls.fill(32);
    return 0;
  }
  let bestErr = Infinity;
  let best = 0;
  const tryD = (bits: number) => {
    const d = f16ToF32(bits);
    if (!Number.isFinite(d)) return;
    let err = 0;
    for (let j = 0; j < 8; j++) {
      const a = d === 0 ? 0 : Math.min(31, Math.max(-32, Math.round(t[j] / d)));
      err += (Math.fround(d * a) - t[j]) ** 2;
    }
    if (err < bestErr) {
      bestErr = err;
      best = bits;
    }
  };
  tryD(d0);
  for (let k = 16; k <= 32; k++) {
    tryD(f32ToF16(big / k));
    tryD(f32ToF16(-big / k));
  }
  // One least-squares step for d given the integers of the best candidate.
  const db = f16ToF32(best);
  let num = 0;
  let den = 0;
  for (let j = 0; j < 8; j++) {
    const a = db === 0 ? 0 : Math.min(31, Math.max(-32, Math.round(t[j] / db)));
    num += a * t[j];
    den += a * a;
  }
  if (den > 0) tryD(f32ToF16(num / den));
  const d = f16ToF32(best);
  for (let j = 0; j < 8; j++) ls[j] = 32 + (d === 0 ? 0 : Math.min(31, Math.max(-32, Math.round(t[j] / d))));
  return best;
}

const IQ4_XS: VqCodec = {
  type: GgmlType.IQ4_XS,
  blockSize: 256,
  bytesPerBlock: 136,
  decode(bytes, rows, cols) {
    const g = IQ4_XS_G;
    const nb = checkDecode(g, bytes, rows, cols);
    const q = emptyVqTensor(rows, cols, g.codebook, g.group, false, g.bits);
    const origin: VqOrigin = { type: g.type, d: new Uint16Array(nb), sub: new Int32Array(nb * 8) };
    const f16 = f16Table();
    for (let b = 0; b < nb; b++) {
      const o = b * 136;
      const bits = bytes[o] | (bytes[o + 1] << 8);
      origin.d[b] = bits;
      const d = f16[bits];
      const sh = bytes[o + 2] | (bytes[o + 3] << 8);
      for (let ib = 0; ib < 8; ib++) {
        const ls = ((bytes[o + 4 + (ib >> 1)] >> (4 * (ib & 1))) & 15) | (((sh >> (2 * ib)) & 3) << 4);
        origin.sub![b * 8 + ib] = ls;
        q.scale[b * 8 + ib] = Math.fround(d * (ls - 32));
        nibbles32(bytes, o + 8 + 16 * ib, q.codes, b * 32 + 4 * ib);
      }
    }
    return { q, origin };
  },
  encode(q, origin) {
    const nb = checkEncode(IQ4_XS_G, q, origin, 1, 8);
    const out = new Uint8Array(nb * 136);
    for (let b = 0; b < nb; b++) {
      const o = b * 136;
      writeU16(out, o, origin.d[b]);
      let sh = 0;
      for (let ib = 0; ib < 8; ib++) {
        const ls = origin.sub![b * 8 + ib];
        if (!(ls >= 0 && ls < 64)) throw new RangeError(`IQ4_XS: sub-scale ${ls} is not 6-bit`);
        out[o + 4 + (ib >> 1)] |= (ls & 15) << (4 * (ib & 1));
        sh |= (ls >> 4) << (2 * ib);
        putNibbles32(q.codes, b * 32 + 4 * ib, out, o + 8 + 16 * ib);
      }
      writeU16(out, o + 2, sh);
    }
    return out;
  },
  exactView(q, origin) {
    checkScales(IQ4_XS_G, origin.sub!.length, 'the tensor scale', q.scale.length);
    return superblockParametrization(Float32Array.from(origin.d, f16ToF32), null, Float32Array.from(origin.sub!, (ls) => ls - 32), null, 8);
  },
  withExactTheta(origin, theta) {
    checkScales(IQ4_XS_G, origin.d.length, 'θ', theta.length);
    return { type: origin.type, d: Uint16Array.from(theta, f32ToF16), sub: origin.sub!.slice() };
  },
  refit(origin, scale) {
    checkScales(IQ4_XS_G, origin.sub!.length, 'the target scale', scale.length);
    const d = origin.d.slice();
    const sub = origin.sub!.slice();
    const ls = new Int32Array(8);
    let maxRelErr = 0;
    for (let b = 0; b < d.length; b++) {
      const t = scale.subarray(b * 8, b * 8 + 8);
      const d0 = f16ToF32(d[b]);
      let same = true;
      for (let j = 0; j < 8 && same; j++) same = Math.fround(d0 * (sub[b * 8 + j] - 32)) === t[j];
      if (same) continue;
      d[b] = fitXsBlock(t, d[b], ls);
      sub.set(ls, b * 8);
      const dv = f16ToF32(d[b]);
      for (let j = 0; j < 8; j++) maxRelErr = Math.max(maxRelErr, relErr(Math.fround(dv * (ls[j] - 32)), t[j]));
    }
    return { origin: { type: origin.type, d, sub }, maxRelErr };
  },
};

export const TABLE_CODECS: readonly VqCodec[] = [IQ4_NL, IQ4_XS, ...FP4_CODECS, TQ1_0, TQ2_0];

