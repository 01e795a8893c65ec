// Typed wrappers of the masked next-token cross-entropy over a vocabulary:
//   crossEntropyForward   loss, lse ← logits chunk     cross_entropy_forward.wgsl (partial + combine)
//   crossEntropyBackward  logits chunk ← dz (in place)  cross_entropy_backward.wgsl
//   crossEntropyChunked   the loop over token chunks around a caller-supplied LM head,
//                         so that N×V logits are never resident: per chunk of R rows
//                         hidden rows → head.forward → loss/lse → dz → head.backward → dh rows.
// A token row counts when mask ≠ 0 and its target is < V (an ignore index such
// as 0xffffffff, i.e. −1 as u32, never counts); other rows get loss 0 and dz 0.
// gradScale is 1 / (number of counted tokens in the whole batch, over every
// chunk and micro-batch that forms one optimizer step), passed in by the caller.
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { dispatch, submit, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count } from './elementwise.ts';

const params = new UniformStruct({ rows: 'u32', V: 'u32', row0: 'u32', NS: 'u32', gradScale: 'f32' });
const FWD_BIND = ['uniform', 'read', 'read', 'read', 'storage', 'storage', 'storage'] as const;
const PARTIAL: KernelDef = { shader: 'cross_entropy_forward', entryPoint: 'partial', bindings: FWD_BIND };
const COMBINE: KernelDef = { shader: 'cross_entropy_forward', entryPoint: 'combine', bindings: FWD_BIND };
const BACKWARD: KernelDef = { shader: 'cross_entropy_backward', bindings: ['uniform', 'storage', 'read', 'read', 'read'] };

/** Invocations sharing one row in the forward: about 128 logits each, at most 256 (see the shader header). */
export function crossEntropySlices(V: number): number {
  return Math.min(256, Math.max(1, Math.ceil(V / 128)));
}

/** Scratch for the forward's per-slice (max, sum) pairs of an [R, V] logits buffer. */
export function crossEntropyScratch(ctx: GpuContext, R: number, V: number): GpuTensor<'f32'> {
  return GpuTensor.empty(ctx, [R, crossEntropySlices(V), 2], 'f32', 'cross_entropy.partials');
}

export interface CrossEntropyRowOptions {
  /** Token index of the chunk's row 0 in targets / mask / loss / lse; default 0. */
  row0?: number;
  /** Rows of the chunk in use (the last chunk may be short); default all of logits. */
  rows?: number;
  /** Record into this encoder instead of submitting at once. */
  encoder?: GPUCommandEncoder;
}

interface Checked {
  R: number;
  V: number;
  row0: number;
  rows: number;
}

function check(what: string, logits: GpuTensor, targets: GpuTensor, mask: GpuTensor, perToken: GpuTensor[], opts: CrossEntropyRowOptions): Checked {
  if (logits.shape.length !== 2) throw new RangeError(`${what}: logits must be [R, V], got [${logits.shape}]`);
  const [R, V] = logits.shape;
  if (V < 1) throw new RangeError(`${what}: the vocabulary is empty (V = 0)`);
  if (targets.dtype !== 'u32' || mask.dtype !== 'u32') throw new RangeError(`${what}: targets and mask must be u32 tensors`);
  const N = targets.size;
  for (const t of [mask, ...perToken]) if (t.shape.length !== 1 || t.size !== N) throw new RangeError(`${what}: mask, loss and lse must be [N] = [${N}] like targets, got [${t.shape}]`);
  const row0 = opts.row0 ?? 0;
  const rows = opts.rows ?? R;
  if (!Number.isInteger(row0) || !Number.isInteger(rows) || row0 < 0 || rows < 0 || rows > R || row0 + rows > N)
    throw new RangeError(`${what}: rows ${row0}..${row0 + rows - 1} do not fit a [${R}, ${V}] chunk of ${N} tokens`);
  checkU32Count(`${what} logits`, logits.size);
  return { R, V, row0, rows };
}

/** loss[n], lse[n] for n = row0..row0+rows−1 from logits rows 0..rows−1. */
export function crossEntropyForward(
  ctx: GpuContext,
  loss: GpuTensor<'f32'>,
  lse: GpuTensor<'f32'>,
  logits: GpuTensor<'f32'>,
  targets: GpuTensor<'u32'>,
  mask: GpuTensor<'u32'>,
  opts: CrossEntropyRowOptions & { scratch?: GpuTensor<'f32'> } = {},
): void {
  const c = check('crossEntropyForward', logits, targets, mask, [loss, lse], opts);
  const NS = crossEntropySlices(c.V);
  if (opts.scratch && opts.scratch.size < c.rows * NS * 2) throw new RangeError(`crossEntropyForward: scratch [${opts.scratch.shape}] is smaller than [${c.rows}, ${NS}, 2]; use crossEntropyScratch`);
  if (!opts.scratch && opts.encoder) throw new RangeError('crossEntropyForward: pass a scratch tensor (crossEntropyScratch) when recording into an encoder');
  if (c.rows === 0) return;
  const scratch = opts.scratch ?? crossEntropyScratch(ctx, c.rows, c.V);
  const enc = opts.encoder ?? ctx.device.createCommandEncoder();
  const args = {
    uniform: params.pack({ rows: c.rows, V: c.V, row0: c.row0, NS, gradScale: 0 }),
    buffers: [logits.buffer, targets.buffer, mask.buffer, loss.buffer, lse.buffer, scratch.buffer],
    encoder: enc,
  };
  dispatch(ctx, PARTIAL, { ...args, workgroups: [Math.ceil(NS / 64), c.rows] });
  dispatch(ctx, COMBINE, { ...args, workgroups: [Math.ceil(c.rows / 64)] });
  if (!opts.encoder) {
    submit(ctx, enc);
    if (!opts.scratch) scratch.destroy();
  }
}

/** logits ← dz = (softmax − onehot(target))·gradScale on counted rows, 0 elsewhere (rows ≥ `rows` included). */
export function crossEntropyBackward(
  ctx: GpuContext,
  logits: GpuTensor<'f32'>,
  lse: GpuTensor<'f32'>,
  targets: GpuTensor<'u32'>,
  mask: GpuTensor<'u32'>,
  opts: CrossEntropyRowOptions & { gradScale: number },
): void {
  const c = check('crossEntropyBackward', logits, targets, mask, [lse], opts);
  if (!Number.isFinite(opts.gradScale)) throw new RangeError(`crossEntropyBackward: gradScale ${opts.gradScale} is not finite (no counted tokens?)`);
  if (c.R === 0) return;
  dispatch(ctx, BACKWARD, {
    uniform: params.pack({ rows: c.rows, V: c.V, row0: c.row0, NS: 0, gradScale: opts.gradScale }),
    buffers: [logits.buffer, targets.buffer, mask.buffer, lse.buffer],
    workgroups: [Math.ceil(c.V / 256), c.R],
    encoder: opts.encoder,
  });
}

/** The LM head as the chunk loop sees it; both callbacks may record into `enc` or submit on their own. */
export interface LmHead {
  /** Vocabulary size V. */
  vocab: number;
  /** logits [R, V] ← hidden [R, C] · Wᵀ (matmul, qlinearForward, …). */
  forward(enc: GPUCommandEncoder, logits: GpuTensor<'f32'>, hidden: GpuTensor<'f32'>): void;
  /**
   * dhidden [R, C] ← dz · W, plus the head's own parameter gradients accumulated
   * from dz [R, V] and hidden [R, C] (rows past the chunk's end have dz = 0).
   */
  backward?(enc: GPUCommandEncoder, dhidden: GpuTensor<'f32'>, dz: GpuTensor<'f32'>, hidden: GpuTensor<'f32'>): void;
}

export interface CrossEntropyChunkedOptions {
  /** Per-token loss [N] (written; 0 on rows that do not count). */
  loss: GpuTensor<'f32'>;
  /** Per-token log-sum-exp [N] (written); allocated and freed here when absent. */
  lse?: GpuTensor<'f32'>;
  /** dL/dhidden [N, C] (written) when head.backward is given. */
  dhidden?: GpuTensor<'f32'>;
  /** 1 / counted tokens of the optimizer step; required with head.backward. */
  gradScale?: number;
}

/**
 * Mean-masked cross-entropy of hidden [N, C] (after the final norm) through an
 * LM head, R = min(chunk, N) rows at a time: peak extra memory is one [R, V]
 * logits buffer (reused, turned into dz in place) plus [R, C] hidden/dh rows.
 * Every step is submitted before the next begins, so a head whose kernels
 * submit on their own still runs in order. The mean loss is Σ loss / count
 * (read loss back, or reduce it on the GPU).
 */
export function crossEntropyChunked(
  ctx: GpuContext,
  hidden: GpuTensor<'f32'>,
  head: LmHead,
  targets: GpuTensor<'u32'>,
  mask: GpuTensor<'u32'>,
  chunk: number,
  opts: CrossEntropyChunkedOptions,
): void {
  if (hidden.shape.length !== 2) throw new RangeError(`crossEntropyChunked: hidden must be [N, C], got [${hidden.shape}]`);
  const [N, C] = hidden.shape;
  const V = head.vocab;
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`crossEntropyChunked: chunk = ${chunk} must be a positive integer`);
  if (targets.size !== N) throw new RangeError(`crossEntropyChunked: targets have ${targets.size} entries for N = ${N} hidden rows`);
  const backward = head.backward;
  if (backward && (!opts.dhidden || opts.gradScale === undefined)) throw new RangeError('crossEntropyChunked: head.backward needs dhidden and gradScale');
  if (opts.dhidden && (opts.dhidden.shape[0] !== N || opts.dhidden.shape[1] !== C)) throw new RangeError(`crossEntropyChunked: dhidden is [${opts.dhidden.shape}], expected [${N}, ${C}]`);
  if (N === 0) return;
  const R = Math.min(chunk, N);
  const temps: GpuTensor[] = [];
  const temp = (shape: number[], label: string): GpuTensor<'f32'> => {
    const t = GpuTensor.empty(ctx, shape, 'f32', label);
    temps.push(t);
    return t;
  };
  try {
    const h = temp([R, C], 'cross_entropy.hidden_rows');
    const z = temp([R, V], 'cross_entropy.logits');
    const scratch = crossEntropyScratch(ctx, R, V);
    temps.push(scratch);
    const lse = opts.lse ?? temp([N], 'cross_entropy.lse');
    const dh = backward ? temp([R, C], 'cross_entropy.dhidden_rows') : undefined;
    const step = (record: (enc: GPUCommandEncoder) => void) => {
      const enc = ctx.device.createCommandEncoder();
      record(enc);
      submit(ctx, enc);
    };
    for (let row0 = 0; row0 < N; row0 += R) {
      const rows = Math.min(R, N - row0);
      step((enc) => enc.copyBufferToBuffer(hidden.buffer, row0 * C * 4, h.buffer, 0, rows * C * 4));
      step((enc) => head.forward(enc, z, h));
      step((enc) => {
        crossEntropyForward(ctx, opts.loss, lse, z, targets, mask, { row0, rows, scratch, encoder: enc });
        if (backward) crossEntropyBackward(ctx, z, lse, targets, mask, { row0, rows, gradScale: opts.gradScale!, encoder: enc });
      });
      if (backward && dh) {
        step((enc) => backward(enc, dh, z, h));
        step((enc) => enc.copyBufferToBuffer(dh.buffer, 0, opts.dhidden!.buffer, row0 * C * 4, rows * C * 4));
      }
    }
  } finally {
    // Valid right after submit: WebGPU keeps the memory until the queued work is done.
    for (const t of temps) t.destroy();
  }
}
