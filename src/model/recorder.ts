// One command encoder shared by every kernel of a forward pass, so a layer (or a
// whole forward) is one submit instead of one per kernel: each submit costs a
// round trip through Dawn, which dominates small shapes and decode (T = 1).
// A wrapper that submits on its own is called after flush(), which submits
// what was recorded so far and keeps the order.
import type { GpuContext } from '../gpu/device.ts';
import { submit } from '../gpu/pipelines.ts';

export class Recorder {
  private enc: GPUCommandEncoder | null;
  /**
   * With `external`, record into an encoder someone else submits (a step of
   * crossEntropyChunked): flush() then leaves it alone, which keeps the order
   * only while nothing recorded earlier into it must precede a self-submitting
   * kernel, i.e. when this recorder's work starts the encoder.
   */
  constructor(
    readonly ctx: GpuContext,
    private readonly external: GPUCommandEncoder | null = null,
  ) {
    this.enc = external;
  }

  /** The open encoder (created on first use). */
  get encoder(): GPUCommandEncoder {
    return (this.enc ??= this.ctx.device.createCommandEncoder());
  }

  /** Submit what has been recorded, if anything. */
  flush(): void {
    if (!this.enc || this.external) return;
    const enc = this.enc;
    this.enc = null;
    submit(this.ctx, enc);
  }
}
