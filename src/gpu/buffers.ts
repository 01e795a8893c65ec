// GPU tensors and the allocation ledger. Every buffer sub4 creates goes
// through here, so `live` and `peak` are the true bytes the engine holds, which
// is what the memory planner (later) is checked against.
import { GpuLimitError } from './errors.ts';
import type { GpuContext } from './device.ts';

export type DType = 'f32' | 'u32' | 'i32';
const BYTES: Record<DType, number> = { f32: 4, u32: 4, i32: 4 };
type TypedFor<D extends DType> = D extends 'f32' ? Float32Array : D extends 'u32' ? Uint32Array : Int32Array;

export class Ledger {
  live = 0;
  peak = 0;
  count = 0;
  alloc(bytes: number) {
    this.live += bytes;
    this.count++;
    if (this.live > this.peak) this.peak = this.live;
  }
  free(bytes: number) {
    this.live -= bytes;
    this.count--;
  }
  /** Start a new peak measurement from the current live bytes. */
  resetPeak() {
    this.peak = this.live;
  }
}

const ledgers = new WeakMap<GPUDevice, Ledger>();
export function ledgerOf(ctx: GpuContext): Ledger {
  let l = ledgers.get(ctx.device);
  if (!l) ledgers.set(ctx.device, (l = new Ledger()));
  return l;
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`bad tensor dimension ${d} in shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

/** A buffer with a shape and dtype. Storage buffers are padded to 4 bytes and at least 4 bytes long. */
export class GpuTensor<D extends DType = DType> {
  private constructor(
    readonly ctx: GpuContext,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: D,
    readonly byteSize: number,
    /** Views share their owner's buffer and never free it. */
    private freed = false,
  ) {}

  /** The same buffer under another shape with as many elements (q as [N, H·D] and as [B, T, H, D]). */
  view(shape: readonly number[]): GpuTensor<D> {
    if (elementCount(shape) !== this.size) throw new RangeError(`view: [${shape}] holds ${elementCount(shape)} values, the tensor [${this.shape}] ${this.size}`);
    return new GpuTensor(this.ctx, this.buffer, [...shape], this.dtype, this.byteSize, true);
  }

  get size(): number {
    return elementCount(this.shape);
  }

  static empty<D extends DType>(ctx: GpuContext, shape: readonly number[], dtype: D, label = 'tensor'): GpuTensor<D> {
    const bytes = Math.max(4, elementCount(shape) * BYTES[dtype]);
    const max = Math.min(ctx.limits.maxBufferSize, ctx.limits.maxStorageBufferBindingSize);
    if (bytes > max)
      throw new GpuLimitError(
        `${label}: a ${shape.join('×')} ${dtype} tensor needs ${bytes.toLocaleString('en-US')} bytes, but this GPU binds at most ${max.toLocaleString('en-US')} bytes per buffer; split it`,
        'maxStorageBufferBindingSize',
        bytes,
        max,
      );
    const buffer = ctx.device.createBuffer({
      label,
      size: bytes,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    ledgerOf(ctx).alloc(bytes);
    return new GpuTensor(ctx, buffer, [...shape], dtype, bytes);
  }

  static from<D extends DType>(ctx: GpuContext, data: TypedFor<D>, shape: readonly number[], dtype: D, label = 'tensor'): GpuTensor<D> {
    if (data.length !== elementCount(shape))
      throw new RangeError(`${label}: ${data.length} values do not fill shape [${shape.join(', ')}]`);
    const t = GpuTensor.empty(ctx, shape, dtype, label);
    t.write(data);
    return t;
  }

  write(data: TypedFor<D>, offsetElements = 0): void {
    this.ctx.device.queue.writeBuffer(this.buffer, offsetElements * 4, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Copy to the CPU. Resolves after all previously submitted work on the queue. */
  async read(): Promise<TypedFor<D>> {
    const n = this.size;
    const bytes = Math.max(4, n * 4);
    const staging = this.ctx.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.ctx.device.createCommandEncoder();
    enc.copyBufferToBuffer(this.buffer, 0, staging, 0, bytes);
    this.ctx.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const copy = staging.getMappedRange().slice(0, n * 4);
    staging.unmap();
    staging.destroy();
    const C = this.dtype === 'f32' ? Float32Array : this.dtype === 'u32' ? Uint32Array : Int32Array;
    return new C(copy) as TypedFor<D>;
  }

  destroy(): void {
    if (this.freed) return;
    this.freed = true;
    ledgerOf(this.ctx).free(this.byteSize);
    this.buffer.destroy();
  }
}
