// The token table on the GPU, held the way the linear layers hold a weight
// (a GpuLinear [V, C], src/model/linear.ts): float files (F32/F16/BF16) as an
// f32 table, every quantized type the loader keeps on the GPU (the scalar ggml
// block types, the codebook types, GPTQ and AQLM tensors) in its quantized
// engine form. The lookup gathers and dequantizes only the rows the ids name
// (embedding_q.wgsl / embedding_vq.wgsl), so a quantized table is never widened
// to f32: a 32000 × 2048 Q4_K table is 49 MB on the GPU instead of 262 MB, and
// on software adapters creating GPU buffers is the load's largest cost. A tied
// LM head is then the quantized linear over the same buffers, as llama.cpp runs it.
import type { GpuContext } from '../gpu/device.ts';
import type { GpuTensor } from '../gpu/buffers.ts';
import { embeddingForward, embeddingForwardQ } from '../gpu/kernels/embedding.ts';
import { uploadQTensor } from '../gpu/qtensor_gpu.ts';
import type { ModelTensor } from '../io/loaded_model.ts';
import { timedAsync, timed } from '../base/phase_clock.ts';
import { uploadLinear, type GpuLinear, type UploadQuantOptions } from './linear.ts';

/**
 * Upload a [V, C] token table: quantized tensors as uploadLinear uploads a
 * weight (GGUF blocks through the load's GPU conversion or CPU decoder,
 * codebook types and AQLM as a VqTensor), GPTQ ones (readQ) as their QTensor
 * (not kept on the CPU: nothing trains the table), float ones as f32.
 */
export async function uploadEmbedding(ctx: GpuContext, t: ModelTensor, opts: UploadQuantOptions = {}): Promise<GpuLinear> {
  if (t.readQ) {
    const q = await timedAsync(opts.clock, 'read+decode', () => t.readQ!());
    const w = timed(opts.clock, 'upload', () => uploadQTensor(ctx, q, t.name, { clock: opts.clock }));
    return { kind: 'quant', rows: q.rows, cols: q.cols, w, bias: null, type: t.type, ggmlType: null };
  }
  return uploadLinear(ctx, t, null, opts);
}

/** x [N, C] ← table[ids, :] · scale (Gemma's sqrt(hidden), else 1), recorded into `encoder`. */
export function embedTokens(ctx: GpuContext, x: GpuTensor<'f32'>, table: GpuLinear, ids: GpuTensor<'u32'>, scale: number | undefined, encoder?: GPUCommandEncoder): void {
  if (table.kind === 'dense') embeddingForward(ctx, x, table.w, ids, { encoder, scale });
  else embeddingForwardQ(ctx, x, table.w, ids, { encoder, scale });
}
