// Global gradient norm on the GPU (grad_norm.wgsl): sqrt(Σ over tensors Σ g²)
// and the count of NaN/±Inf values, in a fixed order (bit-reproducible), with
// one 8-byte readback. The optimizer reads it once per step to pick the clip
// factor and to refuse non-finite steps before touching any parameter.
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { dispatch, submit, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count, foldedGrid, type KernelOptions } from './elementwise.ts';

/** Values each partial sums (CH in grad_norm.wgsl). */
export const VALUES_PER_PARTIAL = 256;
const params = new UniformStruct({ n: 'u32', NP: 'u32', off: 'u32' });
const PARTIAL: KernelDef = { shader: 'grad_norm', entryPoint: 'partial', bindings: ['uniform', 'storage', 'read'] };
const REDUCE: KernelDef = { shader: 'grad_norm', entryPoint: 'reduce', bindings: ['uniform', 'storage'] };

export interface GradNormResult {
  /** Σ g² over the finite values (f32 on the GPU, widened). */
  sumSquares: number;
  /** sqrt(sumSquares), in f64. Infinity when Σ g² overflowed f32 (|g| ≳ 1.8e19). */
  norm: number;
  /** Number of NaN / ±Inf values in the gradients (left out of sumSquares). */
  nonFinite: number;
}

const partialsOf = (n: number) => Math.ceil(n / VALUES_PER_PARTIAL);

/** Scratch for the norm of tensors of these sizes: reuse it every step. */
export class GradNormWorkspace {
  /** u32 pairs (sum bits, count): one per partial, plus the result pair. */
  readonly slots: GpuTensor<'u32'>;
  readonly capacity: number;

  constructor(
    readonly ctx: GpuContext,
    sizes: readonly number[],
    label = 'grad_norm',
  ) {
    this.capacity = sizes.reduce((s, n) => s + partialsOf(n), 0);
    this.slots = GpuTensor.empty(ctx, [2 * (this.capacity + 1)], 'u32', `${label}.slots`);
  }

  destroy(): void {
    this.slots.destroy();
  }
}

/**
 * Record both passes for `grads` into `opts.encoder` (or submit them); the result
 * pair lands at slot `total partials` of ws.slots. Returns that slot index.
 */
export function encodeGradNorm(ctx: GpuContext, grads: readonly GpuTensor<'f32'>[], ws: GradNormWorkspace, opts: KernelOptions = {}): number {
  let off = 0;
  for (const g of grads) {
    checkU32Count('gradNorm', g.size);
    off += partialsOf(g.size);
  }
  if (off > ws.capacity) throw new RangeError(`gradNorm: these ${grads.length} tensors need ${off} partials, the workspace holds ${ws.capacity}`);
  const enc = opts.encoder ?? ctx.device.createCommandEncoder();
  off = 0;
  for (const g of grads) {
    const n = g.size;
    const NP = partialsOf(n);
    if (NP === 0) continue;
    dispatch(ctx, PARTIAL, { uniform: params.pack({ n, NP, off }), buffers: [ws.slots.buffer, g.buffer], workgroups: foldedGrid(NP, 64, opts.foldAt), encoder: enc });
    off += NP;
  }
  dispatch(ctx, REDUCE, { uniform: params.pack({ n: off, NP: 0, off: 0 }), buffers: [ws.slots.buffer], workgroups: [1], encoder: enc });
  if (!opts.encoder) submit(ctx, enc);
  return off;
}

/** Read the result pair at `slot` (encodeGradNorm's return value) back to the CPU. */
export async function readGradNorm(ctx: GpuContext, ws: GradNormWorkspace, slot: number): Promise<GradNormResult> {
  const staging = ctx.device.createBuffer({ label: 'grad_norm.readback', size: 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const enc = ctx.device.createCommandEncoder();
    enc.copyBufferToBuffer(ws.slots.buffer, slot * 8, staging, 0, 8);
    ctx.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const u = new Uint32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    const sumSquares = new Float32Array(u.buffer, 0, 1)[0];
    return { sumSquares, norm: Math.sqrt(sumSquares), nonFinite: u[1] };
  } finally {
    staging.destroy();
  }
}

/** One-off norm of `grads` (allocates and frees its workspace). */
export async function gradNorm(ctx: GpuContext, grads: readonly GpuTensor<'f32'>[], opts: Pick<KernelOptions, 'foldAt'> = {}): Promise<GradNormResult> {
  const ws = new GradNormWorkspace(ctx, grads.map((g) => g.size));
  try {
    const slot = encodeGradNorm(ctx, grads, ws, opts);
    return await readGradNorm(ctx, ws, slot);
  } finally {
    ws.destroy();
  }
}
