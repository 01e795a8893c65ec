// llama.cpp's reference quantizers for the 32-element legacy blocks, ported from
// ggml-quants.c quantize_row_q4_0_ref / q4_1 / q5_0 / q5_1 / q8_0 so the bytes
// equal llama.cpp's (llama_model_quantize uses these *_ref paths when no
// importance matrix is given). C evaluates every expression here in float, so
// each step is rounded with Math.fround; one f64 operation on two f32 values then
// rounded to f32 equals the f32 operation (double rounding is innocuous since
// 53 ≥ 2·24+2). Casts follow C: (int8_t)/(uint8_t) of a float truncate toward zero.
import { f32ToF16, writeU16 } from '../f16.ts';
import { GgmlType } from '../formats.ts';

const fr = Math.fround;
const QK = 32;
const FLT_MAX = 3.4028234663852886e38;

/** (int8_t)(v) for a float v in int8 range, then MIN(hi, ·), then stored as uint8_t. */
function clampTrunc(v: number, hi: number): number {
  const t = (Math.trunc(v) << 24) >> 24;
  return (t < hi ? t : hi) & 0xff;
}

function checkLength(name: string, x: Float32Array, out: Uint8Array, bytesPerBlock: number): number {
  if (x.length % QK !== 0) throw new RangeError(`${name}: ${x.length} values is not a multiple of ${QK}`);
  const nb = x.length / QK;
  if (out.length < nb * bytesPerBlock) throw new RangeError(`${name}: output has ${out.length} bytes, needs ${nb * bytesPerBlock}`);
  return nb;
}

/** The value of largest magnitude (first one wins ties), as in the q4_0/q5_0 amax loop. */
function signedAbsMax(x: Float32Array, base: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < QK; j++) {
    const v = x[base + j];
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

function minMax(x: Float32Array, base: number): [number, number] {
  let min = FLT_MAX;
  let max = -FLT_MAX;
  for (let j = 0; j < QK; j++) {
    const v = x[base + j];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

/** block_q4_0: d = max/-8 (max = signed value of largest |x|), q = MIN(15, (int8)(x/d + 8.5)). */
export function quantizeRowQ4_0(x: Float32Array, out: Uint8Array): void {
  const nb = checkLength('quantizeRowQ4_0', x, out, 18);
  for (let i = 0; i < nb; i++) {
    const base = i * QK;
    const o = i * 18;
    const d = fr(signedAbsMax(x, base) / -8);
    const id = d ? fr(1 / d) : 0;
    writeU16(out, o, f32ToF16(d));
    for (let j = 0; j < 16; j++) {
      const xi0 = clampTrunc(fr(fr(x[base + j] * id) + 8.5), 15);
      const xi1 = clampTrunc(fr(fr(x[base + 16 + j] * id) + 8.5), 15);
      out[o + 2 + j] = (xi0 | (xi1 << 4)) & 0xff;
    }
  }
}

/** block_q4_1: d = (max-min)/15, m = min, q = MIN(15, (int8)((x-min)/d + 0.5)). */
export function quantizeRowQ4_1(x: Float32Array, out: Uint8Array): void {
  const nb = checkLength('quantizeRowQ4_1', x, out, 20);
  for (let i = 0; i < nb; i++) {
    const base = i * QK;
    const o = i * 20;
    const [min, max] = minMax(x, base);
    const d = fr(fr(max - min) / 15);
    const id = d ? fr(1 / d) : 0;
    writeU16(out, o, f32ToF16(d));
    writeU16(out, o + 2, f32ToF16(min));
    for (let j = 0; j < 16; j++) {
      const xi0 = clampTrunc(fr(fr(fr(x[base + j] - min) * id) + 0.5), 15);
      const xi1 = clampTrunc(fr(fr(fr(x[base + 16 + j] - min) * id) + 0.5), 15);
      out[o + 4 + j] = (xi0 | (xi1 << 4)) & 0xff;
    }
  }
}

/** Pack 32 five-bit codes: low nibbles into qs (element j and j+16 share a byte), 5th bits into the u32 qh. */
function pack5(codes: Uint8Array, out: Uint8Array, qhAt: number, qsAt: number): void {
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const xi0 = codes[j];
    const xi1 = codes[j + 16];
    out[qsAt + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
    qh |= ((xi0 & 0x10) >>> 4) << j;
    qh |= ((xi1 & 0x10) >>> 4) << (j + 16);
  }
  out[qhAt] = qh & 0xff;
  out[qhAt + 1] = (qh >>> 8) & 0xff;
  out[qhAt + 2] = (qh >>> 16) & 0xff;
  out[qhAt + 3] = (qh >>> 24) & 0xff;
}

const codes = new Uint8Array(QK);

/** block_q5_0: d = max/-16, q = MIN(31, (int8)(x/d + 16.5)). */
export function quantizeRowQ5_0(x: Float32Array, out: Uint8Array): void {
  const nb = checkLength('quantizeRowQ5_0', x, out, 22);
  for (let i = 0; i < nb; i++) {
    const base = i * QK;
    const o = i * 22;
    const d = fr(signedAbsMax(x, base) / -16);
    const id = d ? fr(1 / d) : 0;
    writeU16(out, o, f32ToF16(d));
    for (let j = 0; j < QK; j++) codes[j] = clampTrunc(fr(fr(x[base + j] * id) + 16.5), 31);
    pack5(codes, out, o + 2, o + 6);
  }
}

/** block_q5_1: d = (max-min)/31, m = min, q = (uint8)((x-min)/d + 0.5) (no clamp upstream). */
export function quantizeRowQ5_1(x: Float32Array, out: Uint8Array): void {
  const nb = checkLength('quantizeRowQ5_1', x, out, 24);
  for (let i = 0; i < nb; i++) {
    const base = i * QK;
    const o = i * 24;
    const [min, max] = minMax(x, base);
    const d = fr(fr(max - min) / 31);
    const id = d ? fr(1 / d) : 0;
    writeU16(out, o, f32ToF16(d));
    writeU16(out, o + 2, f32ToF16(min));
    for (let j = 0; j < QK; j++) codes[j] = Math.trunc(fr(fr(fr(x[base + j] - min) * id) + 0.5)) & 0xff;
    pack5(codes, out, o + 4, o + 8);
  }
}

/** roundf: half away from zero. */
function roundf(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/** block_q8_0: d = amax/127, q = roundf(x/d). */
export function quantizeRowQ8_0(x: Float32Array, out: Uint8Array): void {
  const nb = checkLength('quantizeRowQ8_0', x, out, 34);
  for (let i = 0; i < nb; i++) {
    const base = i * QK;
    const o = i * 34;
    let amax = 0;
    for (let j = 0; j < QK; j++) {
      const a = Math.abs(x[base + j]);
      amax = amax > a ? amax : a;
    }
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    writeU16(out, o, f32ToF16(d));
    for (let j = 0; j < QK; j++) out[o + 2 + j] = roundf(fr(x[base + j] * id)) & 0xff;
  }
}

export type LegacyType = GgmlType.Q4_0 | GgmlType.Q4_1 | GgmlType.Q5_0 | GgmlType.Q5_1 | GgmlType.Q8_0;

export const LEGACY_QUANTIZERS: Record<LegacyType, { bytesPerBlock: number; quantizeRow: (x: Float32Array, out: Uint8Array) => void }> = {
  [GgmlType.Q4_0]: { bytesPerBlock: 18, quantizeRow: quantizeRowQ4_0 },
  [GgmlType.Q4_1]: { bytesPerBlock: 20, quantizeRow: quantizeRowQ4_1 },
  [GgmlType.Q5_0]: { bytesPerBlock: 22, quantizeRow: quantizeRowQ5_0 },
  [GgmlType.Q5_1]: { bytesPerBlock: 24, quantizeRow: quantizeRowQ5_1 },
  [GgmlType.Q8_0]: { bytesPerBlock: 34, quantizeRow: quantizeRowQ8_0 },
};

export function isLegacyType(type: number): type is LegacyType {
  return type in LEGACY_QUANTIZERS;
}

/** Quantize a whole tensor (its length a multiple of 32) to freshly allocated block bytes. */
export function quantizeLegacy(type: LegacyType, x: Float32Array): Uint8Array {
  const q = LEGACY_QUANTIZERS[type];
  const out = new Uint8Array((x.length / QK) * q.bytesPerBlock);
  q.quantizeRow(x, out);
  return out;
}
