// The tensors of an exported folder that are not quantized linear layers
// (embedding, norms, head, biases), as safetensors entries read lazily while
// the file streams: shared by the GPTQ and MLX writers, which differ only in
// the float type they store them as.
import type { SafetensorsWriteTensor, TensorBytes } from '../io/safetensors/writer.ts';

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
