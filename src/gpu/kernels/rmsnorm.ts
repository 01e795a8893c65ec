// Typed wrappers of RMSNorm (Llama input_layernorm / post_attention_layernorm / model.norm):
//   rmsnormForward   y ← x · rstd ⊙ w, rstd saved          rmsnorm_forward.wgsl
//   rmsnormBackward  dx and/or dw from dy, x, w, rstd       rmsnorm_backward.wgsl
// Shapes: x, y, dx, dy [N, C] (or [B, T, C]: only the last dimension is
// normalised); w, dw [C]; rstd [N].
// Two variants of the per-row kernels: 'workgroup' (a workgroup reduces each
// row: real GPUs) and 'row' (an invocation per row, no barriers: SwiftShader,
// where barriers dominate). `auto` picks 'row' on software adapters.
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { dispatch, submit, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count, foldedGrid, MAX_GROUPS_PER_DIM, type KernelOptions } from './elementwise.ts';

export type RmsnormVariant = 'workgroup' | 'row';

const fwdParams = new UniformStruct({ N: 'u32', C: 'u32', eps: 'f32' });
const bwdParams = new UniformStruct({ N: 'u32', C: 'u32', RPC: 'u32', NB: 'u32', beta: 'f32' });
const FWD_BINDINGS = ['uniform', 'read', 'read', 'storage', 'storage'] as const;
const BWD_BINDINGS = ['uniform', 'read', 'read', 'read', 'read', 'storage', 'read'] as const;
const FWD: Record<RmsnormVariant, KernelDef> = {
  workgroup: { shader: 'rmsnorm_forward', entryPoint: 'main', bindings: FWD_BINDINGS },
  row: { shader: 'rmsnorm_forward', entryPoint: 'row_main', bindings: FWD_BINDINGS },
};
const DX: Record<RmsnormVariant, KernelDef> = {
  workgroup: { shader: 'rmsnorm_backward', entryPoint: 'dx_main', bindings: BWD_BINDINGS.slice(0, 6) },
  row: { shader: 'rmsnorm_backward', entryPoint: 'dx_row', bindings: BWD_BINDINGS.slice(0, 6) },
};
const DW_PARTIAL: KernelDef = { shader: 'rmsnorm_backward', entryPoint: 'dw_partial', bindings: BWD_BINDINGS.slice(0, 6) };
const DW_REDUCE: KernelDef = { shader: 'rmsnorm_backward', entryPoint: 'dw_reduce', bindings: BWD_BINDINGS };
/** Invocations per workgroup of the 'row' entry points (WG in the shaders). */
const ROW_WG = 64;
/** Rows per dW partial sum: short f32 sums, and N/64 partials per column to reduce. */
const ROWS_PER_CHUNK = 64;

export interface RmsnormOptions extends KernelOptions {
  variant?: RmsnormVariant | 'auto';
}

function variantOf(ctx: GpuContext, opts: RmsnormOptions): RmsnormVariant {
  return !opts.variant || opts.variant === 'auto' ? (ctx.adapter.isSoftware ? 'row' : 'workgroup') : opts.variant;
}

function rowGrid(v: RmsnormVariant, N: number, opts: RmsnormOptions): [number, number] {
  return foldedGrid(N, v === 'row' ? ROW_WG : 1, opts.foldAt);
}

/** Rows of a row-major tensor whose last dimension is C. */
function rowsOf(what: string, t: GpuTensor<'f32'>, C: number): number {
  if (t.shape.length < 1 || t.shape[t.shape.length - 1] !== C) throw new RangeError(`${what}: [${t.shape}] does not end in C = ${C}`);
  checkU32Count(what, t.size);
  return t.size / C;
}

function checkCommon(what: string, x: GpuTensor<'f32'>, w: GpuTensor<'f32'>, rstd: GpuTensor<'f32'>): [number, number] {
  if (w.shape.length !== 1 || w.size === 0) throw new RangeError(`${what}: w [${w.shape}] is not a non-empty vector [C]`);
  const C = w.size;
  if (Math.ceil(C / 64) > MAX_GROUPS_PER_DIM) throw new RangeError(`${what}: C = ${C} is too wide for one dispatch row`);
  const N = rowsOf(`${what}: x`, x, C);
  if (rstd.size !== N) throw new RangeError(`${what}: rstd [${rstd.shape}] does not have one value per row (${N})`);
  return [N, C];
}

/** y ← x / sqrt(mean(x²) + eps) ⊙ w over the last dimension; rstd [N] ← 1 / sqrt(mean(x²) + eps). */
export function rmsnormForward(
  ctx: GpuContext,
  y: GpuTensor<'f32'>,
  rstd: GpuTensor<'f32'>,
  x: GpuTensor<'f32'>,
  w: GpuTensor<'f32'>,
  eps: number,
  opts: RmsnormOptions = {},
): void {
  const [N, C] = checkCommon('rmsnormForward', x, w, rstd);
  if (rowsOf('rmsnormForward: y', y, C) !== N) throw new RangeError(`rmsnormForward: y [${y.shape}] does not match x [${x.shape}]`);
  if (new Set([y, rstd, x, w]).size !== 4) throw new RangeError('rmsnormForward: y and rstd must be distinct from x, w and each other');
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new RangeError(`rmsnormForward: eps ${eps} is not a finite number ≥ 0`);
  if (N === 0) return;
  const v = variantOf(ctx, opts);
  dispatch(ctx, FWD[v], {
    uniform: fwdParams.pack({ N, C, eps }),
    buffers: [x.buffer, w.buffer, y.buffer, rstd.buffer],
    workgroups: rowGrid(v, N, opts),
    encoder: opts.encoder,
  });
}

export interface RmsnormGrads {
  /** dX [N, C]; omitted when the input needs no gradient. */
  dx?: GpuTensor<'f32'>;
  /** dW [C]; omitted for a frozen norm weight. */
  dw?: GpuTensor<'f32'>;
  /** Add into dx / dw instead of overwriting (residual stream, micro-batch accumulation). */
  accumulate?: boolean;
  /**
   * Workspace for the dW partial sums, at least rmsnormScratchSize(N, C) f32.
   * Optional when the call submits itself; required with opts.encoder (a
   * temporary could not outlive the call).
   */
  scratch?: GpuTensor<'f32'>;
}

function chunking(N: number): { RPC: number; NB: number } {
  const RPC = Math.max(ROWS_PER_CHUNK, Math.ceil(N / MAX_GROUPS_PER_DIM));
  return { RPC, NB: Math.max(1, Math.ceil(N / RPC)) };
}

/** f32 values of workspace rmsnormBackward needs for dW over N rows of width C. */
export function rmsnormScratchSize(N: number, C: number): number {
  return chunking(N).NB * C;
}

/** Backward of rmsnormForward for upstream dy [N, C], with x, w and the rstd the forward pass saved. */
export function rmsnormBackward(
  ctx: GpuContext,
  grads: RmsnormGrads,
  dy: GpuTensor<'f32'>,
  x: GpuTensor<'f32'>,
  w: GpuTensor<'f32'>,
  rstd: GpuTensor<'f32'>,
  opts: RmsnormOptions = {},
): void {
  const [N, C] = checkCommon('rmsnormBackward', x, w, rstd);
  if (rowsOf('rmsnormBackward: dy', dy, C) !== N) throw new RangeError(`rmsnormBackward: dy [${dy.shape}] does not match x [${x.shape}]`);
  if (grads.dx && grads.dx.size !== x.size) throw new RangeError(`rmsnormBackward: dx [${grads.dx.shape}] does not match x [${x.shape}]`);
  if (grads.dw && grads.dw.size !== C) throw new RangeError(`rmsnormBackward: dw [${grads.dw.shape}] does not match w [${w.shape}]`);
  for (const [name, g] of [['dx', grads.dx], ['dw', grads.dw], ['scratch', grads.scratch]] as const)
    if (g && [dy, x, w, rstd].includes(g)) throw new RangeError(`rmsnormBackward: ${name} must not alias an input (WebGPU forbids a buffer bound read-only and writable at once)`);
  const { RPC, NB } = chunking(N);
  if (grads.dw && grads.scratch && grads.scratch.size < NB * C)
    throw new RangeError(`rmsnormBackward: scratch [${grads.scratch.shape}] holds fewer than the ${NB * C} values rmsnormScratchSize(${N}, ${C}) asks for`);
  if (grads.dw && !grads.scratch && opts.encoder)
    throw new RangeError('rmsnormBackward: dw recorded into an encoder needs grads.scratch (rmsnormScratchSize(N, C) f32)');
  if (N === 0 || (!grads.dx && !grads.dw)) return;
  const beta = grads.accumulate ? 1 : 0;
  const uniform = bwdParams.pack({ N, C, RPC, NB, beta });
  const enc = opts.encoder ?? ctx.device.createCommandEncoder();
  const inputs = [dy.buffer, x.buffer, w.buffer, rstd.buffer];
  if (grads.dx) {
    const v = variantOf(ctx, opts);
    dispatch(ctx, DX[v], { uniform, buffers: [...inputs, grads.dx.buffer], workgroups: rowGrid(v, N, opts), encoder: enc });
  }
  const temp = grads.dw && !grads.scratch ? GpuTensor.empty(ctx, [NB, C], 'f32', 'rmsnorm.dw_partials') : undefined;
  const partials = grads.scratch ?? temp;
  if (grads.dw && partials) {
    dispatch(ctx, DW_PARTIAL, { uniform, buffers: [...inputs, partials.buffer], workgroups: [Math.ceil(C / 64), NB], encoder: enc });
    dispatch(ctx, DW_REDUCE, { uniform, buffers: [...inputs, grads.dw.buffer, partials.buffer], workgroups: [Math.ceil(C / 64)], encoder: enc });
  }
  if (!opts.encoder) submit(ctx, enc);
  temp?.destroy(); // after submit: WebGPU keeps the memory until the work using it completes
}
