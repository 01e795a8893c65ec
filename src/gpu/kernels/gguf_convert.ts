// Typed wrapper of gguf_convert.wgsl: ggml blocks uploaded as stored → a GpuQTensor
// (dense codes split into parts by rows, f32 scale and offset), for the block
// types the kernel knows (Q4_0, Q4_K, Q6_K: the legacy 4-bit type and the two of
// llama.cpp's K-quant mixes' bulk); other types go through the CPU decoder
// (uploadQTensor(ggufToQTensor(...))). One part's raw rows are uploaded at a time
// and freed after its conversion, so a tensor's bytes need not fit one binding
// and are never held twice on the GPU.
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { GpuLimitError } from '../errors.ts';
import { afterSubmit, dispatch, submit, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { foldedGrid } from './elementwise.ts';
import { gpuQTensor, type CodePart, type GpuQTensor, type UploadOptions } from '../qtensor_gpu.ts';
import { BLOCK_FORMATS, GgmlType } from '../../quant/formats.ts';
import { groupsPerRow, wordsPerRow, type QBits } from '../../quant/qtensor.ts';
import { timed } from '../../base/phase_clock.ts';

const WG = 64;
const params = new UniformStruct({ rows: 'u32', row0: 'u32', blocksPerRow: 'u32', wordsPerRow: 'u32', groupsPerRow: 'u32', groups32PerRow: 'u32' });

/** The grid each convertible type decodes to (as ggufGrid says for it). */
const GRID: Partial<Record<GgmlType, { bits: QBits; group: number }>> = {
  [GgmlType.Q4_0]: { bits: 4, group: 32 },
  [GgmlType.Q4_K]: { bits: 4, group: 32 },
  [GgmlType.Q6_K]: { bits: 6, group: 16 },
};

export function gpuConvertible(type: GgmlType): boolean {
  return GRID[type] !== undefined;
}

/**
 * Upload a rows × cols tensor of ggml blocks of `type` (bytes in the engine's row
 * order) and convert it on the GPU. Same result, word for word, as
 * uploadQTensor(ctx, ggufToQTensor(type, bytes, rows, cols).q).
 */
export function uploadGgufBlocks(ctx: GpuContext, type: GgmlType, bytes: Uint8Array, rows: number, cols: number, label = 'qweight', opts: UploadOptions = {}): GpuQTensor {
  const grid = GRID[type];
  if (!grid) throw new RangeError(`uploadGgufBlocks: ${GgmlType[type]} has no GPU conversion kernel`);
  const f = BLOCK_FORMATS[type as keyof typeof BLOCK_FORMATS];
  if (cols % f.blockSize !== 0) throw new RangeError(`${f.name}: row length ${cols} is not a multiple of the block size ${f.blockSize}`);
  const bpr = cols / f.blockSize;
  const rawRow = bpr * f.bytesPerBlock;
  if (bytes.length !== rows * rawRow) throw new RangeError(`${f.name}: ${bytes.length} bytes for ${rows}×${cols} (expected ${rows * rawRow})`);
  const wpr = wordsPerRow(cols, grid.bits);
  const ng = groupsPerRow(cols, grid.group);
  const limit = opts.maxBindingBytes ?? Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  // Codes of 6 bits carry a padding word per part; the raw rows carry one for the kernel's two-word reads.
  const pad = grid.bits === 6 ? 4 : 0;
  const rowsPerPart = Math.min(Math.floor((limit - pad) / (wpr * 4)), Math.floor((limit - 8) / rawRow));
  if (rowsPerPart < 1)
    throw new GpuLimitError(`${label}: one row (${Math.max(wpr * 4, rawRow)} bytes) exceeds the ${limit}-byte binding limit`, 'maxStorageBufferBindingSize', Math.max(wpr * 4, rawRow), limit);
  const scale = GpuTensor.empty(ctx, [rows, ng], 'f32', `${label}.scale`);
  const offset = GpuTensor.empty(ctx, [rows, ng], 'f32', `${label}.offset`);
  const codeParts: CodePart[] = [];
  const kernel: KernelDef = { shader: 'gguf_convert', bindings: ['uniform', 'read', 'storage', 'storage', 'storage'], constants: { WG, TYPE: type } };
  try {
    for (let row0 = 0; row0 < rows; row0 += rowsPerPart) {
      const n = Math.min(rowsPerPart, rows - row0);
      const codes = GpuTensor.empty(ctx, [n * wpr + pad / 4], 'u32', `${label}.codes[${row0}]`);
      codeParts.push({ row0, rows: n, codes });
      const src = timed(opts.clock, 'upload', () => rawTensor(ctx, bytes.subarray(row0 * rawRow, (row0 + n) * rawRow), `${label}.blocks[${row0}]`));
      const enc = ctx.device.createCommandEncoder();
      afterSubmit(enc, () => src.destroy());
      dispatch(ctx, kernel, {
        uniform: params.pack({ rows: n, row0, blocksPerRow: bpr, wordsPerRow: wpr, groupsPerRow: ng, groups32PerRow: cols / 32 }),
        buffers: [src.buffer, codes.buffer, scale.buffer, offset.buffer],
        workgroups: foldedGrid(n * (cols / 32), WG),
        encoder: enc,
      });
      submit(ctx, enc);
    }
  } catch (e) {
    for (const p of codeParts) p.codes.destroy();
    scale.destroy();
    offset.destroy();
    throw e;
  }
  return gpuQTensor(rows, cols, grid.bits, grid.group, codeParts, scale, offset);
}

/** Bytes as a u32 buffer with one zero word after them (no host copy: the aligned prefix, then the tail). */
function rawTensor(ctx: GpuContext, bytes: Uint8Array, label: string): GpuTensor<'u32'> {
  const words = Math.ceil(bytes.length / 4) + 1;
  const t = GpuTensor.empty(ctx, [words], 'u32', label);
  const head = bytes.length & ~3;
  if (head) ctx.device.queue.writeBuffer(t.buffer, 0, bytes.buffer, bytes.byteOffset, head);
  if (head < bytes.length) {
    const tail = new Uint8Array(4);
    tail.set(bytes.subarray(head));
    ctx.device.queue.writeBuffer(t.buffer, head, tail);
  }
  return t;
}
