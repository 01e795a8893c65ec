// The packed sub-block scales of the K-quants, decoded and re-encoded. Decoders
// follow ggml-quants.c (get_scale_min_k4 for Q4_K/Q5_K, the aux[] shuffle of
// dequantize_row_q3_K); encoders follow the packing in quantize_row_q*_K_ref, so
// encode(decode(bytes)) reproduces the bytes (a PEQA export re-packs tuned scales
// through these). Layouts: docs/formats.md §2.1.

/** One K-quant's sub-block scale field. `off` arguments are the byte offset of the block. */
export interface ScaleCodec {
  /** ggml's name for the packing. */
  readonly name: string;
  /** Sub-blocks per 256-element super-block, and elements per sub-block. */
  readonly count: number;
  readonly subBlockSize: number;
  /** Where the packed field sits inside the block, and its length in bytes. */
  readonly offset: number;
  readonly bytes: number;
  /** Integer range of the decoded scales and mins (mins: null when the type has none). */
  readonly scRange: readonly [number, number];
  readonly mRange: readonly [number, number] | null;
  decode(block: Uint8Array, off: number, sc: Int32Array, m: Int32Array | null): void;
  /** Overwrites the whole field; values must already be integers in range. */
  encode(sc: ArrayLike<number>, m: ArrayLike<number> | null, block: Uint8Array, off: number): void;
}

/** get_scale_min_k4: 8 six-bit scales and 8 six-bit mins in 12 bytes (Q4_K, Q5_K). */
export function decodeScaleMinK4(q: Uint8Array, o: number, sc: Int32Array, m: Int32Array | null): void {
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      sc[j] = q[o + j] & 63;
      if (m) m[j] = q[o + j + 4] & 63;
    } else {
      sc[j] = (q[o + j + 4] & 0xf) | ((q[o + j - 4] >> 6) << 4);
      if (m) m[j] = (q[o + j + 4] >> 4) | ((q[o + j] >> 6) << 4);
    }
  }
}

export function encodeScaleMinK4(sc: ArrayLike<number>, m: ArrayLike<number> | null, q: Uint8Array, o: number): void {
  q.fill(0, o, o + 12);
  for (let j = 0; j < 8; j++) {
    const ls = sc[j];
    const lm = m ? m[j] : 0;
    if (j < 4) {
      q[o + j] = ls;
      q[o + j + 4] = lm;
    } else {
      q[o + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      q[o + j - 4] |= (ls >> 4) << 6;
      q[o + j] |= (lm >> 4) << 6;
    }
  }
}

/** Q3_K: 16 six-bit scales stored as sc+32: low nibbles in bytes 0..7, top 2 bits in bytes 8..11. */
export function decodeQ3KScales(q: Uint8Array, o: number, sc: Int32Array): void {
  for (let s = 0; s < 16; s++) {
    const low4 = s < 8 ? q[o + s] & 15 : q[o + s - 8] >> 4;
    const hi2 = (q[o + 8 + (s % 4)] >> (2 * (s >> 2))) & 3;
    sc[s] = (low4 | (hi2 << 4)) - 32;
  }
}

export function encodeQ3KScales(sc: ArrayLike<number>, q: Uint8Array, o: number): void {
  q.fill(0, o, o + 12);
  for (let j = 0; j < 16; j++) {
    const l = sc[j] + 32;
    if (j < 8) q[o + j] = l & 0xf;
    else q[o + j - 8] |= (l & 0xf) << 4;
    q[o + 8 + (j % 4)] |= (l >> 4) << (2 * (j >> 2));
  }
}

/** Q2_K: 16 bytes, scale in the low nibble and min in the high nibble. */
export function decodeQ2KScales(q: Uint8Array, o: number, sc: Int32Array, m: Int32Array | null): void {
  for (let s = 0; s < 16; s++) {
    sc[s] = q[o + s] & 15;
    if (m) m[s] = q[o + s] >> 4;
  }
}

export function encodeQ2KScales(sc: ArrayLike<number>, m: ArrayLike<number> | null, q: Uint8Array, o: number): void {
  for (let s = 0; s < 16; s++) q[o + s] = (sc[s] & 15) | (((m ? m[s] : 0) & 15) << 4);
}

/** Q6_K: 16 plain int8 scales. */
export function decodeQ6KScales(q: Uint8Array, o: number, sc: Int32Array): void {
  for (let s = 0; s < 16; s++) sc[s] = (q[o + s] << 24) >> 24;
}

export function encodeQ6KScales(sc: ArrayLike<number>, q: Uint8Array, o: number): void {
  for (let s = 0; s < 16; s++) q[o + s] = sc[s] & 0xff;
}

export const Q2K_SCALES: ScaleCodec = {
  name: 'q2_K nibbles',
  count: 16,
  subBlockSize: 16,
  offset: 0,
  bytes: 16,
  scRange: [0, 15],
  mRange: [0, 15],
  decode: (b, off, sc, m) => decodeQ2KScales(b, off, sc, m),
  encode: (sc, m, b, off) => encodeQ2KScales(sc, m, b, off),
};

export const Q3K_SCALES: ScaleCodec = {
  name: 'q3_K 6-bit',
  count: 16,
  subBlockSize: 16,
  offset: 96,
  bytes: 12,
  scRange: [-32, 31],
  mRange: null,
  decode: (b, off, sc) => decodeQ3KScales(b, off + 96, sc),
  encode: (sc, _m, b, off) => encodeQ3KScales(sc, b, off + 96),
};

function k4Codec(): ScaleCodec {
  return {
    name: 'get_scale_min_k4',
    count: 8,
    subBlockSize: 32,
    offset: 4,
    bytes: 12,
    scRange: [0, 63],
    mRange: [0, 63],
    decode: (b, off, sc, m) => decodeScaleMinK4(b, off + 4, sc, m),
    encode: (sc, m, b, off) => encodeScaleMinK4(sc, m, b, off + 4),
  };
}
export const Q4K_SCALES: ScaleCodec = k4Codec();
export const Q5K_SCALES: ScaleCodec = k4Codec();

export const Q6K_SCALES: ScaleCodec = {
  name: 'q6_K int8',
  count: 16,
  subBlockSize: 16,
  offset: 192,
  bytes: 16,
  scRange: [-128, 127],
  mRange: null,
  decode: (b, off, sc) => decodeQ6KScales(b, off + 192, sc),
  encode: (sc, _m, b, off) => encodeQ6KScales(sc, b, off + 192),
};
