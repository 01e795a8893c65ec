// Backward of one linear layer of the model (src/model/linear.ts) into what a
// run trains: dX for the layer below, and per src/model/trainable.ts the PEQA
// chain dY → (dscale, doffset) → dθ and/or the LoRA factor gradients, and a
// learned codebook's table and row-scale gradients (codebook_train.ts); with
// DoRA the gradient first passes the m/n scale (src/model/dora.ts: dm, and dZ
// in place of dY for everything below). W's codes (or a dense f32 matrix) and
// the bias are frozen: never a gradient.
// Input and parameter gradients accumulate independently (dX sums over the
// q/k/v or gate/up branches within one backward; parameter gradients over
// micro-batches), so the qlinear wrapper, which takes one accumulate flag for
// everything it writes, is called once per kind of output.
import type { GpuContext } from '../gpu/device.ts';
import type { GpuTensor } from '../gpu/buffers.ts';
import { qlinearBackward } from '../gpu/kernels/qlinear.ts';
import { qparamBackward } from '../gpu/kernels/qparam.ts';
import type { GpuLinear } from './linear.ts';
import { denseBackward } from './lora.ts';
import { doraBackwardStep } from './dora.ts';
import type { LinearTrain } from './trainable.ts';
import { codebookBackward } from './codebook_train.ts';

export interface LinearBackwardArgs {
  /** Upstream gradient [N, O] and the layer's forward input [N, I]. */
  dy: GpuTensor<'f32'>;
  x: GpuTensor<'f32'>;
  /** dX [N, I]; omitted when the input needs no gradient. */
  dx?: GpuTensor<'f32'>;
  /** Add into dx (a second branch reading the same input). */
  dxAccumulate?: boolean;
  /** What this layer trains (nothing when absent). */
  train?: LinearTrain;
  /** Add into the trainable gradients (micro-batches after the first). */
  accumulate?: boolean;
}

/** Record the backward of `lin` into enc. */
export function linearBackward(ctx: GpuContext, enc: GPUCommandEncoder, lin: GpuLinear, a: LinearBackwardArgs): void {
  const lora = a.train?.lora;
  const peqa = a.train?.peqa;
  const opts = { encoder: enc };
  const dora = a.train?.dora;
  if (dora) {
    if (!lora) throw new RangeError('linearBackward: DoRA without its LoRA factors');
    a = { ...a, dy: doraBackwardStep(ctx, enc, lin, a.x, a.dy, lora.lora, dora, a.accumulate ?? false) };
  }
  if (lin.kind === 'dense') {
    if (peqa || a.train?.codebook) throw new RangeError(`linearBackward: PEQA or a codebook on the dense layer ${lin.w.shape} (${lin.type})`);
    denseBackward(ctx, enc, a.dy, a.x, lin.w, { dx: a.dx, dxAccumulate: a.dxAccumulate, da: lora?.da, db: lora?.db, accumulate: a.accumulate }, lora?.lora);
    return;
  }
  if (a.dx) qlinearBackward(ctx, a.dy, a.x, lin.w, { dx: a.dx, accumulate: a.dxAccumulate }, lora?.lora, opts);
  if (peqa) {
    // dscale/doffset are scratch (overwritten); the chain rule accumulates into dθ.
    qlinearBackward(ctx, a.dy, a.x, lin.w, { dscale: peqa.dscale, doffset: peqa.doffset }, undefined, opts);
    qparamBackward(ctx, peqa.gpu, peqa.dscale, peqa.doffset, peqa.grad, { accumulate: a.accumulate, encoder: enc });
  }
  if (a.train?.codebook) codebookBackward(ctx, enc, lin, a.train.codebook, a.dy, a.x, a.accumulate ?? false);
  if (lora) qlinearBackward(ctx, a.dy, a.x, lin.w, { da: lora.da, db: lora.db, accumulate: a.accumulate }, lora.lora, opts);
}
