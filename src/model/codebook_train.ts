// Training a learned-codebook layer's table and row scales with its indices
// frozen (TrainConfig.codebooks; the VQ counterpart of PEQA, ReALLM's
// optional step): the parameters are the layer's own GPU table and scale
// buffers, updated in place by the optimizer, so the forward kernels read
// the trained values with no apply step. Gradients:
//   table  vqlinear_backward_table.wgsl (src/gpu/kernels/vqtable.ts), along an
//          inverted index of the codes built here once per layer;
//   scale  vqlinear_backward_quant.wgsl's dscale (PEQA's 'scale' view with
//          θ = the scale itself; the offsets, zero in a learned layer, stay so).
// The f16 forward's range bound (GpuVq.tableMax, set at upload) is not
// refreshed as the table trains: it only picks a power-of-two prescale, and
// f16's range leaves orders of magnitude of headroom above it.
import type { GpuContext } from '../gpu/device.ts';
import { GpuTensor } from '../gpu/buffers.ts';
import { qlinearBackward } from '../gpu/kernels/qlinear.ts';
import { tableUses, uploadTableUses, vqTableBackward, type GpuTableUses } from '../gpu/kernels/vqtable.ts';
import type { ModelTensor } from '../io/loaded_model.ts';
import type { GpuLinear } from './linear.ts';

export interface CodebookTrain {
  /** Engine tensor name (the state writes the trained table back under it). */
  name: string;
  /** The layer's own table [size·d padded to vec4s] and row scales [O, 1]: the parameters. */
  table: GpuTensor<'f32'>;
  scale: GpuTensor<'f32'>;
  dtable: GpuTensor<'f32'>;
  dscale: GpuTensor<'f32'>;
  uses: GpuTableUses;
  /** Scratch shared by layers of one shape: dW [O, I] and the unused doffset [O, 1]. */
  dw: GpuTensor<'f32'>;
  doffset: GpuTensor<'f32'>;
}

/** Why a layer's table cannot train, or null when it can. */
export function codebookRefusal(lin: GpuLinear, t: ModelTensor | undefined): string | null {
  if (lin.kind !== 'quant' || !lin.w.vq || !t?.readVq) return `is ${lin.type}, not a learned codebook`;
  if (lin.w.vq.signed || lin.w.groupSize !== lin.cols) return `is ${lin.type}, not a learned table with one scale per row`;
  return null;
}

/** The trainable table of one learned-codebook layer; `scratch` is shared across layers (keyed by shape), `own` takes what this run frees. */
export async function createCodebookTrain(
  ctx: GpuContext,
  name: string,
  lin: GpuLinear & { kind: 'quant' },
  t: ModelTensor,
  scratch: Map<string, [GpuTensor<'f32'>, GpuTensor<'f32'>]>,
  own: <T extends { destroy(): void }>(x: T) => T,
): Promise<CodebookTrain> {
  const q = await t.readVq!();
  const vq = lin.w.vq!;
  const key = `${lin.rows}x${lin.cols}`;
  let s = scratch.get(key);
  if (!s) scratch.set(key, (s = [own(GpuTensor.empty(ctx, [lin.rows, lin.cols], 'f32', `codebook.dw.${key}`)), own(GpuTensor.empty(ctx, [lin.rows, 1], 'f32', `codebook.doffset.${key}`))]));
  return {
    name,
    table: vq.table,
    scale: lin.w.scale,
    dtable: own(GpuTensor.empty(ctx, [...vq.table.shape], 'f32', `${name}.table.grad`)),
    dscale: own(GpuTensor.empty(ctx, [...lin.w.scale.shape], 'f32', `${name}.scale.grad`)),
    uses: own(uploadTableUses(ctx, tableUses(q), `${name}.uses`)),
    dw: s[0],
    doffset: s[1],
  };
}

/** Record the table and scale gradients of one layer (dy [N, O], x [N, I]). */
export function codebookBackward(ctx: GpuContext, enc: GPUCommandEncoder, lin: GpuLinear & { kind: 'quant' }, cb: CodebookTrain, dy: GpuTensor<'f32'>, x: GpuTensor<'f32'>, accumulate: boolean): void {
  // doffset is scratch nobody reads; it takes the same accumulate flag as dscale (one flag per qlinear call).
  qlinearBackward(ctx, dy, x, lin.w, { dscale: cb.dscale, doffset: cb.doffset, accumulate }, undefined, { encoder: enc });
  vqTableBackward(ctx, dy, x, lin.w, cb.uses, cb.dw, cb.dtable, { accumulate, encoder: enc });
}
