// An MLX affine checkpoint reader written from the published format
// (formats-2.md §4: mlx ops.cpp affine_dequantize / pack_and_quantize), not from
// sub4's writer: its own safetensors header parse, codes read bit by bit from
// bytes (stream bit k = bit k % 8 of byte k / 8, where the writer works in u32
// words), and w = scales[g]·q + biases[g] rounded to f32 once (a fused
// multiply-add; `fused: false` rounds s·q first, as an unfused f32 evaluation does).
export interface MlxTensor {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** Every tensor of a .safetensors file, and its metadata. */
export function readSafetensorsFile(file: Uint8Array): { tensors: Map<string, MlxTensor>; metadata: Record<string, string> } {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const tensors = new Map<string, MlxTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = v as unknown as Record<string, string>;
      continue;
    }
    tensors.set(name, { dtype: v.dtype, shape: v.shape, bytes: file.slice(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1]) });
  }
  return { tensors, metadata };
}

export function f32Of(t: MlxTensor): Float32Array {
  if (t.dtype !== 'F32') throw new Error(`expected F32, got ${t.dtype}`);
  return new Float32Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength / 4);
}

/** Codes [out, in] of a packed weight U32 [out, in·bits/32]. */
export function mlxCodes(weight: MlxTensor, bits: number): { rows: number; cols: number; codes: Uint8Array } {
  if (weight.dtype !== 'U32') throw new Error(`packed weight must be U32, got ${weight.dtype}`);
  const [rows, words] = weight.shape;
  const cols = (words * 32) / bits;
  const rowBytes = words * 4;
  const codes = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < cols; i++) {
      let v = 0;
      for (let j = 0; j < bits; j++) {
        const k = i * bits + j;
        v |= ((weight.bytes[r * rowBytes + (k >> 3)] >> (k & 7)) & 1) << j;
      }
      codes[r * cols + i] = v;
    }
  return { rows, cols, codes };
}

/** Dequantized [out, in] of one quantized Linear with the given grid. */
export function mlxDequantize(weight: MlxTensor, scales: MlxTensor, biases: MlxTensor, bits: number, groupSize: number, fused = true): Float32Array {
  const { rows, cols, codes } = mlxCodes(weight, bits);
  const s = f32Of(scales);
  const b = f32Of(biases);
  const G = cols / groupSize;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < cols; i++) {
      const g = r * G + Math.floor(i / groupSize);
      const sq = s[g] * codes[r * cols + i]; // exact in f64: 24-bit scale × ≤ 8-bit code
      out[r * cols + i] = Math.fround((fused ? sq : Math.fround(sq)) + b[g]);
    }
  return out;
}
