// A VqTensor (src/quant/vq/vqtensor.ts) resident on the GPU, as a GpuQTensor
// with its `vq` field set, so that qlinearForward / qlinearBackward /
// dequantizeGpu (src/gpu/kernels/qlinear.ts) take it as they take a scalar
// tensor and model code needs no change.
//
// Codes: the CPU rows as they are (index words, then sign words), split by rows
// into parts within the binding limit exactly as uploadQTensor splits scalar
// codes (no code crosses a word, so no padding word). Scale and offset: one f32
// buffer each, [rows, groups].
// Table: an f32 storage buffer [size·dim], zero-padded to whole vec4s (the
// kernels read a quad of a vector of 4 or 8 as one vec4). A fixed codebook (a ggml grid) is
// uploaded once per device and shared by every tensor using it: cached by the
// Codebook object and, for equal tables built twice, by name, size and dim.
// Shared tables live as long as the device; a learned table (name 'learned',
// ReALLM) belongs to its tensor and is destroyed with it.
import type { GpuContext } from './device.ts';
import { GpuTensor } from './buffers.ts';
import { GpuLimitError } from './errors.ts';
import { timed } from '../base/phase_clock.ts';
import { gpuQTensor, type CodePart, type GpuQTensor, type GpuVq, type UploadOptions } from './qtensor_gpu.ts';
import { vqGroupsPerRow, vqIndexWords, vqWordsPerRow, type Codebook, type VqTensor } from '../quant/vq/vqtensor.ts';

interface TableCache {
  byObject: WeakMap<Codebook, GpuTensor<'f32'>>;
  byName: Map<string, GpuTensor<'f32'>>;
}
const tables = new WeakMap<GpuContext, TableCache>();

/** Whether a codebook is fixed (shareable across tensors) rather than learned per tensor. */
export function isSharedCodebook(cb: Codebook): boolean {
  return cb.name !== 'learned';
}

/** The table buffer of a fixed codebook on this device, uploaded on first use. */
export function sharedTable(ctx: GpuContext, cb: Codebook): GpuTensor<'f32'> {
  let c = tables.get(ctx);
  if (!c) tables.set(ctx, (c = { byObject: new WeakMap(), byName: new Map() }));
  let t = c.byObject.get(cb);
  if (t) return t;
  const key = `${cb.name}:${cb.size}x${cb.dim}`;
  t = c.byName.get(key);
  if (!t) {
    t = uploadTable(ctx, cb.values, `codebook.${cb.name}`);
    c.byName.set(key, t);
  }
  c.byObject.set(cb, t);
  return t;
}

function uploadTable(ctx: GpuContext, values: Float32Array, label: string): GpuTensor<'f32'> {
  const padded = new Float32Array(Math.ceil(values.length / 4) * 4);
  padded.set(values);
  return GpuTensor.from(ctx, padded, [padded.length], 'f32', label);
}

function tableMax(values: Float32Array): number {
  let m = 0;
  for (const v of values) m = Math.max(m, Math.abs(v));
  return m;
}

export function uploadVqTensor(ctx: GpuContext, q: VqTensor, label = 'vqweight', opts: UploadOptions = {}): GpuQTensor {
  const ng = vqGroupsPerRow(q);
  const wpr = vqWordsPerRow(q);
  const limit = opts.maxBindingBytes ?? Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  const rowsPerPart = Math.floor(limit / (wpr * 4));
  if (rowsPerPart < 1)
    throw new GpuLimitError(`${label}: one row of codes (${wpr * 4} bytes) exceeds the ${limit}-byte binding limit`, 'maxStorageBufferBindingSize', wpr * 4, limit);
  const codeParts: CodePart[] = [];
  for (let row0 = 0; row0 < q.rows; row0 += rowsPerPart) {
    const rows = Math.min(rowsPerPart, q.rows - row0);
    const words = q.codes.subarray(row0 * wpr, (row0 + rows) * wpr);
    const codes = timed(opts.clock, 'upload', () => GpuTensor.from(ctx, words, [words.length], 'u32', `${label}.codes[${row0}]`));
    codeParts.push({ row0, rows, codes });
  }
  const shared = isSharedCodebook(q.codebook);
  const [scale, offset, table] = timed(opts.clock, 'upload', () => [
    GpuTensor.from(ctx, q.scale, [q.rows, ng], 'f32', `${label}.scale`),
    GpuTensor.from(ctx, q.offset, [q.rows, ng], 'f32', `${label}.offset`),
    shared ? sharedTable(ctx, q.codebook) : uploadTable(ctx, q.codebook.values, `${label}.table`),
  ]);
  const vq: GpuVq = {
    table,
    dim: q.codebook.dim,
    indexBits: q.indexBits,
    signed: q.signed,
    wordsPerRow: wpr,
    indexWords: vqIndexWords(q),
    tableMax: tableMax(q.codebook.values),
  };
  const w = gpuQTensor(q.rows, q.cols, 8, q.groupSize, codeParts, scale, offset);
  const destroy = w.destroy;
  return {
    ...w,
    vq,
    destroy() {
      destroy();
      if (!shared) table.destroy();
    },
  };
}
