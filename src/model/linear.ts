// A linear layer of the model on the GPU, whatever the file stored: dense f32
// (F32 / F16 / BF16 tensors, run by matmul), a QTensor (every scalar quantized
// ggml block type, decoded losslessly and run by qlinear without dequantizing
// W) or a VqTensor (the codebook types: i-quants, IQ4/FP4 tables, ternary;
// src/quant/vq/, run by the codebook kernels behind the same qlinear calls).
// An optional bias is added by bias_add. y = x · Wᵀ (+ b), W [O, I]; with a
// LoRA adapter (training) y += s·(x·Aᵀ)·Bᵀ (src/model/lora.ts); with DoRA
// (src/model/dora.ts) that sum is then scaled by m/n per output, before the bias.
import type { GpuContext } from '../gpu/device.ts';
import { GpuTensor } from '../gpu/buffers.ts';
import { matmul } from '../gpu/kernels/matmul.ts';
import { qlinearForward, type GpuLora } from '../gpu/kernels/qlinear.ts';
import { biasAdd } from '../gpu/kernels/bias_add.ts';
import { uploadQTensor, type GpuQTensor } from '../gpu/qtensor_gpu.ts';
import { gpuConvertible, uploadGgufBlocks } from '../gpu/kernels/gguf_convert.ts';
import type { ModelTensor } from '../io/loaded_model.ts';
import { applyRowOrder } from '../arch/names.ts';
import { BLOCK_FORMATS, ggmlTypeInfo } from '../quant/formats.ts';
import { FormatError } from '../base/errors.ts';
import { decodeGgufInto, ggufGrid, ggufToQTensor, isQuantGgmlType, type GgufOrigin, type QuantGgmlType } from '../quant/gguf_qtensor.ts';
import { QTensorScratch } from '../quant/qtensor_scratch.ts';
import type { QTensor } from '../quant/qtensor.ts';
import type { GgmlType } from '../quant/formats.ts';
import { isVqGgmlType, vqCodec } from '../quant/vq/codecs.ts';
import type { VqOrigin } from '../quant/vq/codec.ts';
import type { VqTensor } from '../quant/vq/vqtensor.ts';
import { uploadVqTensor } from '../gpu/vq_gpu.ts';
import { loraDenseForward } from './lora.ts';
import { doraScale } from '../gpu/kernels/dora.ts';
import { timed, timedAsync, type PhaseClock } from '../base/phase_clock.ts';
import type { Recorder } from './recorder.ts';

export type GpuLinear =
  | { kind: 'dense'; rows: number; cols: number; w: GpuTensor<'f32'>; bias: GpuTensor<'f32'> | null; type: string }
  | {
      kind: 'quant';
      rows: number;
      cols: number;
      w: GpuQTensor;
      bias: GpuTensor<'f32'> | null;
      type: string;
      /** The GGUF block type it was read from (scalar or codebook), or null when sub4 quantized it (then `q` holds the CPU copy). */
      ggmlType: GgmlType | null;
      q?: QTensor;
    };

/** Whether a tensor is kept quantized on the GPU (every quantized ggml type, GPTQ layers) rather than as f32. */
export function isQuantized(t: ModelTensor): boolean {
  return (t.ggmlType !== null && (isQuantGgmlType(t.ggmlType) || isVqGgmlType(t.ggmlType))) || t.readQ !== undefined || t.readVq !== undefined; // readVq: AQLM
}

/** The raw blocks of a [O, I] weight in engine row order (t.rowOrder: the q/k rotary layout, src/arch/names.ts). */
async function rawRows(t: ModelTensor, type: GgmlType, clock?: PhaseClock): Promise<Uint8Array> {
  const f = ggmlTypeInfo(type)!;
  const bytes = await timedAsync(clock, 'read', () => t.readRaw());
  return t.rowOrder ? timed(clock, 'reorder', () => applyRowOrder(bytes, (t.shape[1] / f.blockSize) * f.bytesPerBlock, t.rowOrder!)) : bytes;
}

/** Decode a codebook-typed [O, I] weight into a VqTensor and its origin (engine row order). */
export async function readVqLinear(t: ModelTensor, type: GgmlType, clock?: PhaseClock): Promise<{ q: VqTensor; origin: VqOrigin }> {
  const bytes = await rawRows(t, type, clock);
  return timed(clock, 'decode', () => {
    try {
      return vqCodec(type).decode(bytes, t.shape[0], t.shape[1]);
    } catch (e) {
      if (e instanceof RangeError) throw new FormatError(t.name, `cannot decode its ${t.type} blocks: ${e.message}`);
      throw e;
    }
  });
}

/**
 * Decode a quantized [O, I] weight into a QTensor (and its GGUF origin, which
 * the trainable parametrizations need). Rows are reordered as whole rows of
 * blocks by t.rowOrder (the q/k rotary layout, src/arch/names.ts) before
 * decoding, exactly as readF32 reorders float rows.
 */
export async function readQuantLinear(t: ModelTensor, type: QuantGgmlType, clock?: PhaseClock): Promise<{ q: QTensor; origin: GgufOrigin }> {
  const bytes = await rawRows(t, type, clock);
  return timed(clock, 'decode', () => ggufToQTensor(type, bytes, t.shape[0], t.shape[1]));
}

export interface UploadQuantOptions {
  /** Wall time per phase (read, decode, repack, upload, convert). */
  clock?: PhaseClock;
  /** Convert on the GPU where a kernel exists (uploadQuant); default: hardware adapters only. */
  gpuConvert?: boolean;
  /** Host memory reused across the tensors of a load; else a fresh one per tensor. */
  scratch?: QTensorScratch;
}

/** Upload a [O, I] weight: quantized types as a GpuQTensor (uploadQuant), others as f32. */
export async function uploadLinear(ctx: GpuContext, t: ModelTensor, bias: GpuTensor<'f32'> | null, opts: UploadQuantOptions = {}): Promise<GpuLinear> {
  const [rows, cols] = t.shape;
  const clock = opts.clock;
  if (t.ggmlType !== null && isQuantGgmlType(t.ggmlType))
    return { kind: 'quant', rows, cols, w: await uploadQuant(ctx, t, t.ggmlType, opts), bias, type: t.type, ggmlType: t.ggmlType };
  if (t.ggmlType !== null && isVqGgmlType(t.ggmlType)) {
    const { q } = await readVqLinear(t, t.ggmlType, clock);
    return { kind: 'quant', rows, cols, w: timed(clock, 'upload', () => uploadVqTensor(ctx, q, t.name)), bias, type: t.type, ggmlType: t.ggmlType };
  }
  // AQLM (src/io/aqlm/import.ts): a learned-table VqTensor, run by the codebook kernels.
  if (t.readVq) {
    const q = await timedAsync(clock, 'read+decode', () => t.readVq!());
    return { kind: 'quant', rows, cols, w: timed(clock, 'upload', () => uploadVqTensor(ctx, q, t.name)), bias, type: t.type, ggmlType: null };
  }
  const x = await readFloats(t, opts);
  const w = timed(clock, 'upload', () => GpuTensor.from(ctx, x, [rows, cols], 'f32', t.name));
  return { kind: 'dense', rows, cols, w, bias, type: t.type };
}

/**
 * A float tensor's f32 values for an upload. Tensors with f32Into (safetensors)
 * are read raw ('read': through the load's read-ahead when t is wrapped) and
 * converted into the scratch's reused f32 buffer ('decode'), valid until the
 * scratch's next use; others (GGUF F16/F32, which may need a row reorder) are
 * read and converted by readF32 ('read+dequant').
 */
export async function readFloats(t: ModelTensor, opts: UploadQuantOptions = {}): Promise<Float32Array> {
  const { clock } = opts;
  if (!t.f32Into) return timedAsync(clock, 'read+dequant', () => t.readF32());
  const raw = await timedAsync(clock, 'read', () => t.readRaw());
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = opts.scratch ? opts.scratch.floats(n) : new Float32Array(n);
  timed(clock, 'decode', () => t.f32Into!(raw, out));
  return out;
}

/**
 * A GGUF-quantized [O, I] weight on the GPU: the file's blocks uploaded as they
 * are and converted by gguf_convert.wgsl where it knows the type (Q4_0, Q4_K,
 * Q6_K), else decoded on the CPU (decodeGgufInto, into the scratch QTensor:
 * no origin, no fresh arrays) and uploaded. Either way, one tensor's bytes at a
 * time, and the same GpuQTensor word for word.
 * `gpuConvert` defaults to hardware adapters only: on SwiftShader the "GPU" is
 * the same CPU cores, and there the word-level JavaScript decoder measured
 * faster than the kernel (`npm run bench -- load --compare`).
 */
export async function uploadQuant(ctx: GpuContext, t: ModelTensor, type: QuantGgmlType, opts: UploadQuantOptions = {}): Promise<GpuQTensor> {
  const { clock, gpuConvert = !ctx.adapter.isSoftware } = opts;
  const [rows, cols] = t.shape;
  const bytes = await rawRows(t, type, clock);
  if (gpuConvert && gpuConvertible(type)) return timed(clock, 'convert', () => uploadGgufBlocks(ctx, type, bytes, rows, cols, t.name, { clock }));
  const scratch = opts.scratch ?? new QTensorScratch();
  const { bits, group } = ggufGrid(type);
  const q = scratch.qtensor(rows, cols, bits, group);
  timed(clock, 'decode', () => decodeGgufInto(type, bytes, q, null));
  return uploadQTensor(ctx, q, t.name, { clock, scratch });
}

/**
 * A layer quantized by sub4 itself (`sub4 tune --bits`), not read from a GGUF:
 * it keeps its CPU QTensor, from which the trainable views are built.
 */
export function quantizedLinear(ctx: GpuContext, name: string, q: QTensor, bias: GpuTensor<'f32'> | null, clock?: PhaseClock): GpuLinear {
  const group = q.groupSize === q.cols ? 'channel' : `g${q.groupSize}`;
  return { kind: 'quant', rows: q.rows, cols: q.cols, w: uploadQTensor(ctx, q, name, { clock }), bias, type: `${q.bits}-bit ${group}`, ggmlType: null, q };
}

/** y [N, O] ← x [N, I] · Wᵀ (+ s·(x·Aᵀ)·Bᵀ) (· m/n with DoRA) (+ b), recorded into rec. */
export function linearForward(ctx: GpuContext, rec: Recorder, y: GpuTensor<'f32'>, x: GpuTensor<'f32'>, lin: GpuLinear, lora?: GpuLora): void {
  if (lin.kind === 'dense') {
    matmul(ctx, y, x, lin.w, { encoder: rec.encoder });
    if (lora) loraDenseForward(ctx, rec.encoder, y, x, lora);
  } else qlinearForward(ctx, y, x, lin.w, lora, { encoder: rec.encoder });
  if (lora?.dora) doraScale(ctx, y, lora.dora.m, lora.dora.n, { encoder: rec.encoder });
  if (lin.bias) biasAdd(ctx, y, lin.bias, { encoder: rec.encoder });
}

export function destroyLinear(lin: GpuLinear): void {
  lin.w.destroy();
  lin.bias?.destroy();
}
