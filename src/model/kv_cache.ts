// The key/value cache of generation: per layer, K and V buffers [B, S, K, D]
// (S = capacity in positions), in exactly the layout attentionForward reads
// (src/gpu/kernels/attention.ts), so decode attends over the cache with no
// copy beyond writing each new token's k and v rows once.
import type { GpuContext } from '../gpu/device.ts';
import { GpuTensor } from '../gpu/buffers.ts';
import type { LlamaConfig } from '../arch/config.ts';

export class KvCache {
  readonly k: GpuTensor<'f32'>[] = [];
  readonly v: GpuTensor<'f32'>[] = [];
  /** Positions filled so far (the next token's position), the same for every sequence of the batch. */
  length = 0;

  constructor(
    ctx: GpuContext,
    readonly config: LlamaConfig,
    readonly B: number,
    readonly capacity: number,
  ) {
    if (!Number.isInteger(B) || B < 1 || !Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`KV cache: B = ${B} sequences of S = ${capacity} positions must be positive integers`);
    const shape = [B, capacity, config.numKvHeads, config.headDim];
    try {
      for (let l = 0; l < config.numLayers; l++) {
        this.k.push(GpuTensor.empty(ctx, shape, 'f32', `kv.k${l}`));
        this.v.push(GpuTensor.empty(ctx, shape, 'f32', `kv.v${l}`));
      }
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** Bytes of one cache: 2 · layers · B · S · K · D · 4. */
  static bytes(c: LlamaConfig, B: number, capacity: number): number {
    return 2 * c.numLayers * B * capacity * c.numKvHeads * c.headDim * 4;
  }

  /** Check that T new positions starting at `start` fit, before anything is recorded. */
  checkRoom(start: number, T: number): void {
    if (start !== this.length) throw new RangeError(`KV cache: the next position is ${this.length}, not ${start}`);
    if (start + T > this.capacity) throw new RangeError(`KV cache: ${start} + ${T} positions exceed its capacity of ${this.capacity}`);
  }

  /**
   * Record copies of layer l's new rows k, v [B·T, K·D] (sequence-major) into
   * positions start..start+T−1 of every sequence.
   */
  write(enc: GPUCommandEncoder, layer: number, k: GpuTensor<'f32'>, v: GpuTensor<'f32'>, start: number, T: number): void {
    const row = this.config.numKvHeads * this.config.headDim * 4;
    if (k.size * 4 !== this.B * T * row || v.size !== k.size) throw new RangeError(`KV cache: k [${k.shape}] / v [${v.shape}] are not ${this.B}·${T} rows of ${row / 4}`);
    for (let b = 0; b < this.B; b++) {
      const src = b * T * row;
      const dst = (b * this.capacity + start) * row;
      enc.copyBufferToBuffer(k.buffer, src, this.k[layer].buffer, dst, T * row);
      enc.copyBufferToBuffer(v.buffer, src, this.v[layer].buffer, dst, T * row);
    }
  }

  destroy(): void {
    for (const t of [...this.k, ...this.v]) t.destroy();
  }
}
