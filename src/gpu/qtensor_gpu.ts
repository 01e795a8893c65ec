// A QTensor resident on the GPU: codes, scale and offset buffers plus the shape
// facts kernels need. Scale and offset are separate buffers because they are
// what trains (PEQA) and what gets gradients.
import type { GpuContext } from './device.ts';
import { GpuTensor } from './buffers.ts';
import { groupsPerRow, wordsPerRow, type QBits, type QTensor } from '../quant/qtensor.ts';

export interface GpuQTensor {
  rows: number;
  cols: number;
  bits: QBits;
  groupSize: number;
  codes: GpuTensor<'u32'>;
  scale: GpuTensor<'f32'>;
  offset: GpuTensor<'f32'>;
  destroy(): void;
}

export function uploadQTensor(ctx: GpuContext, q: QTensor, label = 'qweight'): GpuQTensor {
  const ng = groupsPerRow(q.cols, q.groupSize);
  const codes = GpuTensor.from(ctx, q.codes, [q.rows, wordsPerRow(q.cols, q.bits)], 'u32', `${label}.codes`);
  const scale = GpuTensor.from(ctx, q.scale, [q.rows, ng], 'f32', `${label}.scale`);
  const offset = GpuTensor.from(ctx, q.offset, [q.rows, ng], 'f32', `${label}.offset`);
  return {
    rows: q.rows,
    cols: q.cols,
    bits: q.bits,
    groupSize: q.groupSize,
    codes,
    scale,
    offset,
    destroy() {
      codes.destroy();
      scale.destroy();
      offset.destroy();
    },
  };
}
