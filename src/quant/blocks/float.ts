// Reference decoders for the unquantized ggml types: F32, F16 and BF16
// (block size 1). Bytes are little-endian; sub4 runs on little-endian hosts only
// (every WebGPU platform is), so F32 is a plain byte copy.
import { f16Table } from '../f16.ts';

export function dequantizeF32(src: Uint8Array, out: Float32Array, n: number): void {
  new Uint8Array(out.buffer, out.byteOffset, n * 4).set(src.subarray(0, n * 4));
}

export function dequantizeF16(src: Uint8Array, out: Float32Array, n: number): void {
  const t = f16Table();
  for (let i = 0; i < n; i++) out[i] = t[src[2 * i] | (src[2 * i + 1] << 8)];
}

export function dequantizeBF16(src: Uint8Array, out: Float32Array, n: number): void {
  // Write the bits directly: bf16 is the high half of the f32.
  const bits = new Uint32Array(out.buffer, out.byteOffset, n);
  for (let i = 0; i < n; i++) bits[i] = ((src[2 * i] << 16) | (src[2 * i + 1] << 24)) >>> 0;
}
