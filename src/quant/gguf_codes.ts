// ggml block codes → QTensor bit planes, a word at a time. Every quantized ggml
// type stores a 32-code run of one bit plane as one field of `width` bits at a
// fixed shift in 32 (or 16) consecutive bytes, or (Q5_0/Q5_1's high bits) as one
// little-endian u32. So each output word is built from four-byte reads with a
// mask and two shift-or compactions, instead of one table walk and setCode per
// code: loading a 1.1B model decodes ~10⁹ codes, which took minutes that way.
// The per-element decoder it replaces is the oracle (src/ref/gguf_qtensor.ts;
// tests/unit/gguf_codes.test.ts checks them bit for bit on every type).
//
// Plane layout (src/quant/qtensor.ts): in a row, 32-code group g has p0 words of
// plane 0 at g·p0 and p1 words of plane 1 at ceil(cols/32)·p0 + g·p1; in a plane
// of width p, code i of the group sits at bits (i·p) mod 32 of word ⌊i·p/32⌋.
import { GgmlType } from './formats.ts';

// Every field this file reads starts at an even byte (all block sizes and field offsets are even), so a
// 32-bit read is two 16-bit loads from the tensor's Uint16Array view (little-endian, as the file is).
const u32 = (b: Uint16Array, o: number) => b[o >>> 1] | (b[(o >>> 1) + 1] << 16);

/** Four 4-bit fields at bits 0, 8, 16, 24 → 16 bits. */
function c4(x: number): number {
  x = (x | (x >>> 4)) & 0x00ff00ff;
  return (x | (x >>> 8)) & 0xffff;
}
/** Four 2-bit fields at bits 0, 8, 16, 24 → 8 bits. */
function c2(x: number): number {
  x = (x | (x >>> 6)) & 0x000f000f;
  return (x | (x >>> 12)) & 0xff;
}
/** Four 1-bit fields at bits 0, 8, 16, 24 → 4 bits. */
function c1(x: number): number {
  x = (x | (x >>> 7)) & 0x00030003;
  return (x | (x >>> 14)) & 0xf;
}

// Every type keeps two nibble fields (or four 2-bit fields) of different groups in the same bytes, so
// each word of bytes is loaded once and all its fields are compacted from it.

/** n·8 bytes from `o`: the low nibbles → n words of 8 codes at `lo`, the high nibbles → n words at `hi`. */
function put4(b: Uint16Array, o: number, n: number, out: Uint32Array, lo: number, hi: number): void {
  const m = 0x0f0f0f0f;
  for (let j = 0; j < n; j++, o += 8) {
    const x = u32(b, o), y = u32(b, o + 4);
    out[lo + j] = (c4(x & m) | (c4(y & m) << 16)) >>> 0;
    out[hi + j] = (c4((x >>> 4) & m) | (c4((y >>> 4) & m) << 16)) >>> 0;
  }
}
/** 32 bytes from `o`: the 2 bits at 2s of each → 2 words of 16 codes at w + 2s, for s = 0..3. */
function put2(b: Uint16Array, o: number, out: Uint32Array, w: number): void {
  const m = 0x03030303;
  for (let j = 0; j < 2; j++, o += 16) {
    const x0 = u32(b, o), x1 = u32(b, o + 4), x2 = u32(b, o + 8), x3 = u32(b, o + 12);
    for (let s = 0, sh = 0; s < 4; s++, sh += 2)
      out[w + 2 * s + j] = (c2((x0 >>> sh) & m) | (c2((x1 >>> sh) & m) << 8) | (c2((x2 >>> sh) & m) << 16) | (c2((x3 >>> sh) & m) << 24)) >>> 0;
  }
}
/** 32 bytes from `o`, the bit at `shift` of each → 1 word of 32 codes. */
function put1(b: Uint16Array, o: number, shift: number, out: Uint32Array, w: number): void {
  let v = 0;
  for (let k = 0; k < 8; k++) v |= c1((u32(b, o + 4 * k) >>> shift) & 0x01010101) << (4 * k);
  out[w] = v >>> 0;
}

/**
 * Decode the codes of one block at byte `o` into `codes`: `g0` is the block's
 * first 32-code group within its row, `row` the row's first word, `plane1` the
 * offset of plane 1 within a row (ceil(cols/32)·p0).
 */
export function blockCodes(type: GgmlType, b: Uint16Array, o: number, codes: Uint32Array, row: number, g0: number, plane1: number): void {
  switch (type) {
    case GgmlType.Q4_0:
    case GgmlType.Q4_1:
    case GgmlType.Q5_0:
    case GgmlType.Q5_1: {
      // qs[16]: codes 0–15 the low nibbles, 16–31 the high ones; Q5's fifth bits are one u32 qh.
      const qs = o + (type === GgmlType.Q4_0 ? 2 : type === GgmlType.Q4_1 ? 4 : type === GgmlType.Q5_0 ? 6 : 8);
      const w = row + g0 * 4;
      put4(b, qs, 2, codes, w, w + 2);
      if (type === GgmlType.Q5_0 || type === GgmlType.Q5_1) codes[row + plane1 + g0] = u32(b, qs - 4) >>> 0;
      return;
    }
    case GgmlType.Q8_0: {
      // int8 two's complement; the unsigned code is the byte with its sign bit flipped.
      const w = row + g0 * 8;
      for (let j = 0; j < 8; j++) codes[w + j] = (u32(b, o + 2 + 4 * j) ^ 0x80808080) >>> 0;
      return;
    }
    case GgmlType.Q2_K:
    case GgmlType.Q3_K: {
      // Group G = 4n + j: the 2 bits at 2j of qs[32n..32n+31]; Q3_K's third bit is bit G of hmask[0..31].
      const qs = o + (type === GgmlType.Q2_K ? 16 : 32);
      for (let n = 0; n < 2; n++) put2(b, qs + 32 * n, codes, row + (g0 + 4 * n) * 2);
      if (type === GgmlType.Q3_K) for (let G = 0; G < 8; G++) put1(b, o, G, codes, row + plane1 + g0 + G);
      return;
    }
    case GgmlType.Q4_K:
    case GgmlType.Q5_K: {
      // Group G = 2c + h: the nibble at 4h of qs[32c..32c+31]; Q5_K's fifth bit is bit G of qh[0..31].
      const qs = o + (type === GgmlType.Q4_K ? 16 : 48);
      for (let c = 0; c < 4; c++) put4(b, qs + 32 * c, 4, codes, row + (g0 + 2 * c) * 4, row + (g0 + 2 * c + 1) * 4);
      if (type === GgmlType.Q5_K) for (let G = 0; G < 8; G++) put1(b, o + 16, G, codes, row + plane1 + g0 + G);
      return;
    }
    case GgmlType.Q6_K: {
      // Group G = 4n + k: the nibble at 4(k >> 1) of ql[64n + 32(k & 1)..], the 2 bits at 2k of qh[32n..].
      for (let n = 0; n < 2; n++) {
        for (let h = 0; h < 2; h++) put4(b, o + 64 * n + 32 * h, 4, codes, row + (g0 + 4 * n + h) * 4, row + (g0 + 4 * n + h + 2) * 4);
        put2(b, o + 128 + 32 * n, codes, row + plane1 + (g0 + 4 * n) * 2);
      }
      return;
    }
  }
}
