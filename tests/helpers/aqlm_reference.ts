// An independent reader of AQLM checkpoints for tests: parses model.safetensors
// by hand (8-byte header length, JSON header, raw little-endian data) and
// dequantizes each quantized layer by the published formula (formats-2.md §3.3,
// aqlm utils._dequantize_weight):
//   W[o·og + r, i·ig + c] = scales[o] · Σ_k codebooks[k, codes[o,i,k] mod 2^nbits, r, c]
// It shares no code with sub4's AQLM writer or importer (src/export/aqlm.ts,
// src/io/aqlm/), so a test comparing the two checks the layout, not itself.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Entry { dtype: string; shape: number[]; data_offsets: [number, number] }

function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function values(buf: Buffer, base: number, e: Entry): number[] {
  const [a, b] = e.data_offsets;
  const dv = new DataView(buf.buffer, buf.byteOffset + base + a, b - a);
  const n = e.shape.reduce((x, y) => x * y, 1);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++)
    out[i] = e.dtype === 'I8' ? dv.getInt8(i) : e.dtype === 'I16' ? dv.getInt16(2 * i, true) : e.dtype === 'I32' ? dv.getInt32(4 * i, true) : e.dtype === 'F16' ? f16(dv.getUint16(2 * i, true)) : e.dtype === 'F32' ? dv.getFloat32(4 * i, true) : NaN;
  if (out.some((v) => Number.isNaN(v))) throw new Error(`unexpected dtype ${e.dtype}`);
  return out;
}

/** Every quantized layer of an AQLM folder, dequantized: module name (without `.weight`) → f32 [out, in]. */
export function dequantizeAqlmFolder(dir: string): Map<string, { rows: number; cols: number; w: Float32Array }> {
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).quantization_config;
  const nbits: number = cfg.nbits_per_codebook;
  const buf = readFileSync(join(dir, 'model.safetensors'));
  const len = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + len).toString('utf8')) as Record<string, Entry>;
  const base = 8 + len;
  const out = new Map<string, { rows: number; cols: number; w: Float32Array }>();
  for (const key of Object.keys(header)) {
    if (!key.endsWith('.codes')) continue;
    const mod = key.slice(0, -'.codes'.length);
    const codes = values(buf, base, header[key]);
    const books = values(buf, base, header[`${mod}.codebooks`]);
    const scales = values(buf, base, header[`${mod}.scales`]);
    const [OG, IG, K] = header[key].shape;
    const [, C, og, ig] = header[`${mod}.codebooks`].shape;
    const rows = OG * og, cols = IG * ig;
    const w = new Float32Array(rows * cols);
    const mod2 = 2 ** nbits;
    for (let o = 0; o < OG; o++)
      for (let i = 0; i < IG; i++)
        for (let r = 0; r < og; r++)
          for (let c = 0; c < ig; c++) {
            let sum = 0;
            for (let k = 0; k < K; k++) {
              const code = (((codes[(o * IG + i) * K + k] % mod2) + mod2) % mod2);
              sum += books[((k * C + code) * og + r) * ig + c];
            }
            w[(o * og + r) * cols + i * ig + c] = Math.fround(scales[o] * sum);
          }
    out.set(mod, { rows, cols, w });
  }
  return out;
}
