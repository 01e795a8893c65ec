// A QTensor resident on the GPU: codes, scale and offset buffers plus the shape
// facts kernels need. Scale and offset are separate buffers because they are
// what trains (PEQA) and what gets gradients.
//
// The codes of a large weight (an LM head of 128k × 2048 at 4 bits is 131 MB)
// can exceed one storage binding (128 MiB on many devices, see
// maxStorageBufferBindingSize), so they are split by rows into parts, each its
// own buffer within the limit; the kernels run once per part. Scale and offset
// stay one buffer each: at 64/G bits per weight they are 4–16× smaller than the
// codes, so a tensor's groups must fit one binding (2^25 groups at 128 MiB).
import type { GpuContext } from './device.ts';
import { GpuTensor } from './buffers.ts';
import { GpuLimitError } from './errors.ts';
import { groupsPerRow, wordsPerRow, type QBits, type QTensor } from '../quant/qtensor.ts';

export interface CodePart {
  /** First row of the weight held by this part, and how many rows it holds. */
  row0: number;
  rows: number;
  codes: GpuTensor<'u32'>;
}

export interface GpuQTensor {
  rows: number;
  cols: number;
  bits: QBits;
  groupSize: number;
  codeParts: CodePart[];
  scale: GpuTensor<'f32'>;
  offset: GpuTensor<'f32'>;
  destroy(): void;
}

export interface UploadOptions {
  /** Largest bytes per code buffer; defaults to the device's binding and buffer limits. Tests force small values. */
  maxBindingBytes?: number;
}

export function uploadQTensor(ctx: GpuContext, q: QTensor, label = 'qweight', opts: UploadOptions = {}): GpuQTensor {
  const ng = groupsPerRow(q.cols, q.groupSize);
  const wpr = wordsPerRow(q.cols, q.bits);
  const limit = opts.maxBindingBytes ?? Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  const rowsPerPart = Math.floor(limit / (wpr * 4));
  if (rowsPerPart < 1)
    throw new GpuLimitError(`${label}: one row of codes (${wpr * 4} bytes) exceeds the ${limit}-byte binding limit`, 'maxStorageBufferBindingSize', wpr * 4, limit);
  const codeParts: CodePart[] = [];
  for (let row0 = 0; row0 < q.rows; row0 += rowsPerPart) {
    const rows = Math.min(rowsPerPart, q.rows - row0);
    const codes = GpuTensor.from(ctx, q.codes.subarray(row0 * wpr, (row0 + rows) * wpr), [rows, wpr], 'u32', `${label}.codes[${row0}]`);
    codeParts.push({ row0, rows, codes });
  }
  const scale = GpuTensor.from(ctx, q.scale, [q.rows, ng], 'f32', `${label}.scale`);
  const offset = GpuTensor.from(ctx, q.offset, [q.rows, ng], 'f32', `${label}.offset`);
  return {
    rows: q.rows,
    cols: q.cols,
    bits: q.bits,
    groupSize: q.groupSize,
    codeParts,
    scale,
    offset,
    destroy() {
      for (const p of codeParts) p.codes.destroy();
      scale.destroy();
      offset.destroy();
    },
  };
}
