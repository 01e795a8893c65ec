// The tensors of an exported folder that are not quantized linear layers
// (embedding, norms, head, biases), as safetensors entries read lazily while
// the file streams: shared by the GPTQ and MLX writers, which differ only in
// the float type they store them as.
import type { SafetensorsWriteTensor, TensorBytes } from '../io/safetensors/writer.ts';
import { f16Table, f32ToF16 } from '../quant/f16.ts';

/** f32 → f16 bits; values beyond the f16 range are refused through `fail` (they would load as ±inf). */
export function encodeF16(v: Float32Array, name: string, fail: (detail: string) => never): Uint16Array {
  const out = new Uint16Array(v.length);
  const t = f16Table();
  for (let i = 0; i < v.length; i++) {
    const h = f32ToF16(v[i]);
    if (!Number.isFinite(t[h])) fail(`${name}: value ${v[i]} at index ${i} does not fit F16 (max 65504)`);
    out[i] = h;
  }
  return out;
}

export interface PlainTensor {
  /** HF name: 'model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight', biases... */
  name: string;
  shape: readonly number[];
  read(): Promise<Float32Array>;
}

/** Entries for `tensors`, each checked against its shape when read; `fail` throws the writer's own error. */
export function plainTensorEntries(
  tensors: readonly PlainTensor[],
  linears: ReadonlyMap<string, unknown>,
  dtype: 'F16' | 'F32',
  encode: (v: Float32Array, name: string) => TensorBytes,
  fail: (detail: string) => never,
): SafetensorsWriteTensor[] {
  return tensors.map((t) => {
    if (linears.has(t.name)) fail(`${t.name} is given both as a quantized linear and as a plain tensor`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    return {
      name: t.name,
      dtype,
      shape: t.shape,
      data: async () => {
        const v = await t.read();
        if (v.length !== n) fail(`${t.name}: read ${v.length} values for shape [${t.shape.join(', ')}]`);
        return encode(v, t.name);
      },
    };
  });
}
