// FP4 codecs (MXFP4, NVFP4): ggml blocks ⇄ VqTensor with the FP4 table. Their
// block scales are 8-bit codes (e8m0 "half", ue4m3 × 0.5), not continuous values,
// so they have no exact trainable view: PEQA trains free scales, refitted here to
// the nearest stored byte (see table_codecs.ts for the table of all six types).
import { GgmlType } from '../formats.ts';
import { e8m0HalfToF32, ue4m3ToF32 } from '../blocks/fp4_ternary.ts';
import type { VqCodec, VqOrigin } from './codec.ts';
import { emptyVqTensor } from './vqtensor.ts';
import { FP4_CODEBOOK, checkDecode, checkEncode, checkScales, highWord, lowWord, nibbles32, putNibbles32, putWords, relErr, type Geometry } from './table_common.ts';

// ---- FP4: scales that are 8-bit codes, not continuous values (no exact view).

interface Fp4 extends Geometry {
  /** Scale bytes per block and where byte s sits. */
  scalesPerBlock: number;
  scaleOffset: (s: number) => number;
  toF32: (x: number) => number;
  /** Nearest stored byte to a target scale. */
  nearest: (t: number) => number;
  unpack(b: Uint8Array, o: number, codes: Uint32Array, w: number): void;
  pack(codes: Uint32Array, w: number, out: Uint8Array, o: number): void;
}

function fp4Codec(g: Fp4): VqCodec {
  const wordsPerBlock = (g.blockSize * g.bits) / 32;
  const spb = g.scalesPerBlock;
  return {
    type: g.type,
    blockSize: g.blockSize,
    bytesPerBlock: g.bytesPerBlock,
    decode(bytes, rows, cols) {
      const nb = checkDecode(g, bytes, rows, cols);
      const q = emptyVqTensor(rows, cols, g.codebook, g.group, false, g.bits);
      const origin: VqOrigin = { type: g.type, d: new Uint16Array(nb * spb), sub: null };
      for (let b = 0; b < nb; b++) {
        const o = b * g.bytesPerBlock;
        for (let s = 0; s < spb; s++) {
          const x = bytes[o + g.scaleOffset(s)];
          origin.d[b * spb + s] = x;
          q.scale[b * spb + s] = g.toF32(x);
        }
        g.unpack(bytes, o, q.codes, b * wordsPerBlock);
      }
      return { q, origin };
    },
    encode(q, origin) {
      const nb = checkEncode(g, q, origin, spb, 0);
      const out = new Uint8Array(nb * g.bytesPerBlock);
      for (let b = 0; b < nb; b++) {
        const o = b * g.bytesPerBlock;
        for (let s = 0; s < spb; s++) {
          const x = origin.d[b * spb + s];
          if (x > 255) throw new RangeError(`${g.name}: scale field ${x} is not a byte`);
          out[o + g.scaleOffset(s)] = x;
        }
        g.pack(q.codes, b * wordsPerBlock, out, o);
      }
      return out;
    },
    exactView() {
      return null;
    },
    withExactTheta() {
      throw new RangeError(`${g.name}: the scale is an 8-bit float code with no exact continuous view; use refit`);
    },
    refit(origin, scale) {
      checkScales(g, origin.d.length, 'the target scale', scale.length);
      const d = origin.d.slice();
      let maxRelErr = 0;
      for (let i = 0; i < d.length; i++) {
        if (g.toF32(d[i]) === scale[i]) continue;
        d[i] = g.nearest(scale[i]);
        maxRelErr = Math.max(maxRelErr, relErr(g.toF32(d[i]), scale[i]));
      }
      return { origin: { type: origin.type, d, sub: null }, maxRelErr };
    },
  };
}

/** Nearest e8m0 byte (value 2^(e − 128)) to t; t ≤ 0 gives the smallest, e = 0. */
function nearestE8m0(t: number): number {
  if (!(t > 0)) return 0;
  const k = Math.floor(Math.log2(t)) + 128;
  let best = 0;
  let bestErr = Infinity;
  for (let e = Math.max(0, k - 1); e <= Math.min(255, k + 2); e++) {
    const err = Math.abs(e8m0HalfToF32(e) - t);
    if (err < bestErr) {
      bestErr = err;
      best = e;
    }
  }
  return best;
}

// ue4m3 bytes 0..0x7E increase in value (0x7F is 0 and bit 7 is ignored by ggml_ue4m3_to_fp32).
const UE4M3_ASC = Float64Array.from({ length: 0x7f }, (_, x) => ue4m3ToF32(x));
function nearestUe4m3(t: number): number {
  if (!(t > 0)) return 0;
  let lo = 0;
  let hi = UE4M3_ASC.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (UE4M3_ASC[mid] <= t) lo = mid;
    else hi = mid;
  }
  return Math.abs(UE4M3_ASC[hi] - t) < Math.abs(UE4M3_ASC[lo] - t) ? hi : lo;
}

// MXFP4 (block_mxfp4, 17 B): u8 e at 0; qs[16] at 1 (dequantize_row_mxfp4, GGML_E8M0_TO_FP32_HALF).
const MXFP4 = fp4Codec({
  type: GgmlType.MXFP4, name: 'MXFP4', blockSize: 32, bytesPerBlock: 17, group: 32, codebook: FP4_CODEBOOK, bits: 4,
  scalesPerBlock: 1, scaleOffset: () => 0, toF32: e8m0HalfToF32, nearest: nearestE8m0,
  unpack: (b, o, codes, w) => nibbles32(b, o + 1, codes, w),
  pack: (codes, w, out, o) => putNibbles32(codes, w, out, o + 1),
});

// NVFP4 (block_nvfp4, 36 B): u8 d[4] at 0 (UE4M3 per 16 weights); qs[32] at 4, sub-block s in qs[8s..8s+7]:
// weight j < 8 the low nibble, j + 8 the high one (dequantize_row_nvfp4; ggml_ue4m3_to_fp32 includes ×0.5).
const NVFP4 = fp4Codec({
  type: GgmlType.NVFP4, name: 'NVFP4', blockSize: 64, bytesPerBlock: 36, group: 16, codebook: FP4_CODEBOOK, bits: 4,
  scalesPerBlock: 4, scaleOffset: (s) => s, toF32: ue4m3ToF32, nearest: nearestUe4m3,
  unpack(b, o, codes, w) {
    for (let s = 0; s < 4; s++) {
      codes[w + 2 * s] = lowWord(b, o + 4 + 8 * s);
      codes[w + 2 * s + 1] = highWord(b, o + 4 + 8 * s);
    }
  },
  pack(codes, w, out, o) {
    for (let s = 0; s < 4; s++) putWords(codes[w + 2 * s], codes[w + 2 * s + 1], out, o + 4 + 8 * s);
  },
});

export const FP4_CODECS: readonly VqCodec[] = [MXFP4, NVFP4];
