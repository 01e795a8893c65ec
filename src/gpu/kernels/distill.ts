// Typed wrappers of the distillation loss, KL(teacher ‖ student) over the
// teacher's top-K plus a tail bucket at temperature τ, or (`divergence`) the
// symmetric KL or the Jensen–Shannon divergence over the same buckets (math:
// src/ref/distill.ts):
//   distillForward   loss, stat ← student logits chunk (stat [N, 8]: max, log Σ of all and of the tail; h_tail, h̄, lse, lset)
//                    distill_forward.wgsl (partial + combine)
//   distillBackward  logits chunk ← dz (in place)                         distill_backward.wgsl (topk, then main)
//   distillChunked   the loop over token chunks around an LM head, as crossEntropyChunked
// The teacher side of a batch is a DistillTeacher: its top-K ids and
// log-probabilities per token, its tail mass, and a membership bitmask of the
// ids; packTeacherRows builds it on the CPU (the mask of the label loss folded
// into the tail as −1) and uploadTeacher puts it on the GPU.
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { dispatch, submit, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count } from './elementwise.ts';
import { crossEntropySlices, type LmHead } from './cross_entropy.ts';
import type { Divergence } from '../../ref/distill.ts';

export type { Divergence };
const MODE: Record<Divergence, number> = { kl: 0, skl: 1, jsd: 2 };

const params = new UniformStruct({ rows: 'u32', V: 'u32', row0: 'u32', NS: 'u32', K: 'u32', W: 'u32', invTau: 'f32', tau: 'f32', gradScale: 'f32', mode: 'u32' });
const FWD_BIND = ['uniform', 'read', 'read', 'read', 'read', 'read', 'storage', 'storage', 'storage'] as const;
const BWD_BIND = ['uniform', 'storage', 'read', 'read', 'read', 'read', 'read'] as const;
const PARTIAL: KernelDef = { shader: 'distill_forward', entryPoint: 'partial', bindings: FWD_BIND };
const COMBINE: KernelDef = { shader: 'distill_forward', entryPoint: 'combine', bindings: FWD_BIND };
const BACKWARD: KernelDef = { shader: 'distill_backward', entryPoint: 'main', bindings: BWD_BIND };
const BACKWARD_TOPK: KernelDef = { shader: 'distill_backward', entryPoint: 'topk', bindings: BWD_BIND };

/** The teacher's side of N token rows on the GPU. */
export interface DistillTeacher {
  K: number;
  /** [N, K] top-K ids, distinct per row, each < V. */
  ids: GpuTensor<'u32'>;
  /** [N, K] teacher log-probabilities at the temperature. */
  logp: GpuTensor<'f32'>;
  /** [N] teacher tail mass 1 − Σ p, or −1 for a row whose loss does not count. */
  tail: GpuTensor<'f32'>;
  /** [N, ⌈V/32⌉] bit v of row n set iff v is among row n's top-K. */
  member: GpuTensor<'u32'>;
}

/** The teacher's rows on the CPU, as packTeacherRows gives them. */
export interface TeacherRows {
  K: number;
  ids: Uint32Array;
  logp: Float32Array;
  tail: Float32Array;
  member: Uint32Array;
}

export const memberWords = (V: number) => Math.ceil(V / 32);

/**
 * The CPU side of a DistillTeacher: ids/logp [N·K] and tail [N] (teacher facts)
 * with `counts[n]` false → tail −1, and the ids' bitmask. Refuses ids ≥ V or a
 * repeated id in a row (the backward's top-K pass relies on distinct ids).
 */
export function packTeacherRows(ids: ArrayLike<number>, logp: ArrayLike<number>, tail: ArrayLike<number>, counts: (n: number) => boolean, N: number, K: number, V: number): TeacherRows {
  if (!Number.isInteger(K) || K < 1 || K > V) throw new RangeError(`packTeacherRows: top-K of ${K} must be in 1..V = ${V}`);
  if (ids.length !== N * K || logp.length !== N * K || tail.length !== N) throw new RangeError(`packTeacherRows: ids/logp must be N×K = ${N}×${K} and tail N long`);
  const W = memberWords(V);
  const member = new Uint32Array(N * W);
  const out: TeacherRows = { K, ids: Uint32Array.from(ids), logp: Float32Array.from(logp), tail: new Float32Array(N), member };
  for (let n = 0; n < N; n++) {
    out.tail[n] = counts(n) ? Math.max(0, tail[n]) : -1;
    for (let i = 0; i < K; i++) {
      const id = ids[n * K + i];
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`packTeacherRows: row ${n} has teacher id ${id}, outside the vocabulary of ${V}`);
      const w = n * W + (id >>> 5);
      const bit = 1 << (id & 31);
      if (member[w] & bit) throw new RangeError(`packTeacherRows: row ${n} names teacher id ${id} twice`);
      member[w] |= bit;
    }
  }
  return out;
}

export function uploadTeacher(ctx: GpuContext, rows: TeacherRows, N: number, V: number): DistillTeacher {
  const made: GpuTensor[] = [];
  const up = <D extends 'f32' | 'u32'>(data: D extends 'f32' ? Float32Array : Uint32Array, shape: number[], dtype: D, label: string) => {
    const t = GpuTensor.from(ctx, data as never, shape, dtype, label) as GpuTensor<D>;
    made.push(t);
    return t;
  };
  try {
    return {
      K: rows.K,
      ids: up(rows.ids, [N, rows.K], 'u32', 'distill.ids'),
      logp: up(rows.logp, [N, rows.K], 'f32', 'distill.logp'),
      tail: up(rows.tail, [N], 'f32', 'distill.tail'),
      member: up(rows.member, [N, memberWords(V)], 'u32', 'distill.member'),
    };
  } catch (e) {
    made.forEach((t) => t.destroy());
    throw e;
  }
}

export function destroyTeacher(t: DistillTeacher): void {
  [t.ids, t.logp, t.tail, t.member].forEach((x) => x.destroy());
}

export interface DistillRowOptions {
  /** Temperature τ > 0 (the teacher's logp must be at the same τ). */
  tau: number;
  /** The divergence (default kl, KL(teacher ‖ student)); the backward must be given the forward's. */
  divergence?: Divergence;
  /** Token index of the chunk's row 0; default 0. */
  row0?: number;
  /** Rows of the chunk in use; default all of logits. */
  rows?: number;
  encoder?: GPUCommandEncoder;
}

function check(what: string, logits: GpuTensor, t: DistillTeacher, perToken: GpuTensor[], opts: DistillRowOptions) {
  if (logits.shape.length !== 2) throw new RangeError(`${what}: logits must be [R, V], got [${logits.shape}]`);
  const [R, V] = logits.shape;
  if (V < 1) throw new RangeError(`${what}: the vocabulary is empty (V = 0)`);
  const N = t.tail.size;
  const K = t.K;
  if (!Number.isInteger(K) || K < 1 || K > V) throw new RangeError(`${what}: top-K of ${K} must be in 1..V = ${V}`);
  if (t.ids.size !== N * K || t.logp.size !== N * K) throw new RangeError(`${what}: teacher ids/logp must be [${N}, ${K}]`);
  if (t.member.size !== N * memberWords(V)) throw new RangeError(`${what}: the teacher's bitmask is for another vocabulary (${t.member.size} words for N = ${N}, V = ${V})`);
  for (const x of perToken) if (x.size !== N && x.size !== 8 * N) throw new RangeError(`${what}: per-token outputs must be [N] = [${N}] (stat [N, 8]), got [${x.shape}]`);
  const mode = MODE[opts.divergence ?? 'kl'];
  if (mode === undefined) throw new RangeError(`${what}: divergence ${String(opts.divergence)} is not one of ${Object.keys(MODE).join(', ')}`);
  if (!(opts.tau > 0) || !Number.isFinite(opts.tau)) throw new RangeError(`${what}: temperature ${opts.tau} must be a positive number`);
  const row0 = opts.row0 ?? 0;
  const rows = opts.rows ?? R;
  if (!Number.isInteger(row0) || !Number.isInteger(rows) || row0 < 0 || rows < 0 || rows > R || row0 + rows > N)
    throw new RangeError(`${what}: rows ${row0}..${row0 + rows - 1} do not fit a [${R}, ${V}] chunk of ${N} tokens`);
  checkU32Count(`${what} logits`, logits.size);
  checkU32Count(`${what} teacher`, N * K);
  return { R, V, K, row0, rows, W: memberWords(V), mode };
}

/** Scratch for the forward's per-slice (max, sum, tail max, tail sum) of an [R, V] chunk. */
export function distillScratch(ctx: GpuContext, R: number, V: number): GpuTensor<'f32'> {
  return GpuTensor.empty(ctx, [R, crossEntropySlices(V), 4], 'f32', 'distill.partials');
}

/** loss[n] and stat[n] = (m, log L, m_t, log L_t, h_tail, h̄, lse, lset) at τ (distill_forward.wgsl) for n = row0..row0+rows−1 from logits rows 0..rows−1. */
export function distillForward(
  ctx: GpuContext,
  loss: GpuTensor<'f32'>,
  stat: GpuTensor<'f32'>,
  logits: GpuTensor<'f32'>,
  teacher: DistillTeacher,
  opts: DistillRowOptions & { scratch?: GpuTensor<'f32'> },
): void {
  const c = check('distillForward', logits, teacher, [loss, stat], opts);
  if (stat.size !== 8 * teacher.tail.size) throw new RangeError(`distillForward: stat must be [N, 8], got [${stat.shape}]`);
  const NS = crossEntropySlices(c.V);
  if (opts.scratch && opts.scratch.size < c.rows * NS * 4) throw new RangeError(`distillForward: scratch [${opts.scratch.shape}] is smaller than [${c.rows}, ${NS}, 4]; use distillScratch`);
  if (!opts.scratch && opts.encoder) throw new RangeError('distillForward: pass a scratch tensor (distillScratch) when recording into an encoder');
  if (c.rows === 0) return;
  const scratch = opts.scratch ?? distillScratch(ctx, c.rows, c.V);
  const enc = opts.encoder ?? ctx.device.createCommandEncoder();
  const args = {
    uniform: params.pack({ rows: c.rows, V: c.V, row0: c.row0, NS, K: c.K, W: c.W, invTau: 1 / opts.tau, tau: opts.tau, gradScale: 0, mode: c.mode }),
    buffers: [logits.buffer, teacher.ids.buffer, teacher.logp.buffer, teacher.tail.buffer, teacher.member.buffer, loss.buffer, stat.buffer, scratch.buffer],
    encoder: enc,
  };
  dispatch(ctx, PARTIAL, { ...args, workgroups: [Math.ceil(NS / 64), c.rows] });
  dispatch(ctx, COMBINE, { ...args, workgroups: [Math.ceil(c.rows / 64)] });
  if (!opts.encoder) {
    submit(ctx, enc);
    if (!opts.scratch) scratch.destroy();
  }
}

/** logits ← dz (KL: τ·(q − p̃)·gradScale) on counted rows, 0 elsewhere (rows ≥ `rows` included); stat from distillForward with the same divergence. */
export function distillBackward(ctx: GpuContext, logits: GpuTensor<'f32'>, stat: GpuTensor<'f32'>, teacher: DistillTeacher, opts: DistillRowOptions & { gradScale: number }): void {
  const c = check('distillBackward', logits, teacher, [stat], opts);
  if (!Number.isFinite(opts.gradScale)) throw new RangeError(`distillBackward: gradScale ${opts.gradScale} is not finite (no counted tokens?)`);
  if (c.R === 0) return;
  const enc = opts.encoder ?? ctx.device.createCommandEncoder();
  const args = {
    uniform: params.pack({ rows: c.rows, V: c.V, row0: c.row0, NS: 0, K: c.K, W: c.W, invTau: 1 / opts.tau, tau: opts.tau, gradScale: opts.gradScale, mode: c.mode }),
    buffers: [logits.buffer, teacher.ids.buffer, teacher.logp.buffer, teacher.tail.buffer, teacher.member.buffer, stat.buffer],
    encoder: enc,
  };
  // topk first: it reads the top-K logits that main leaves alone on counted rows.
  if (c.rows > 0) dispatch(ctx, BACKWARD_TOPK, { ...args, workgroups: [Math.ceil(c.K / 64), c.rows] });
  dispatch(ctx, BACKWARD, { ...args, workgroups: [Math.ceil(c.V / 256), c.R] });
  if (!opts.encoder) submit(ctx, enc);
}

export interface DistillChunkedOptions {
  tau: number;
  divergence?: Divergence;
  /** Per-token loss [N] (written; 0 on rows that do not count). */
  loss: GpuTensor<'f32'>;
  /** Per-token statistics [N, 8] (distillForward's; written); allocated and freed here when absent. */
  stat?: GpuTensor<'f32'>;
  /** dL/dhidden [N, C] (written) when head.backward is given. */
  dhidden?: GpuTensor<'f32'>;
  /** 1 / counted tokens of the optimizer step; required with head.backward. */
  gradScale?: number;
}

/**
 * The distillation loss of hidden [N, C] through an LM head, R = min(chunk, N)
 * rows at a time (one [R, V] logits buffer, turned into dz in place), exactly as
 * crossEntropyChunked does for the label loss.
 */
export function distillChunked(ctx: GpuContext, hidden: GpuTensor<'f32'>, head: LmHead, teacher: DistillTeacher, chunk: number, opts: DistillChunkedOptions): void {
  if (hidden.shape.length !== 2) throw new RangeError(`distillChunked: hidden must be [N, C], got [${hidden.shape}]`);
  const [N, C] = hidden.shape;
  const V = head.vocab;
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`distillChunked: chunk = ${chunk} must be a positive integer`);
  if (teacher.tail.size !== N) throw new RangeError(`distillChunked: the teacher has ${teacher.tail.size} rows for N = ${N} hidden rows`);
  const backward = head.backward;
  if (backward && (!opts.dhidden || opts.gradScale === undefined)) throw new RangeError('distillChunked: head.backward needs dhidden and gradScale');
  if (opts.dhidden && (opts.dhidden.shape[0] !== N || opts.dhidden.shape[1] !== C)) throw new RangeError(`distillChunked: dhidden is [${opts.dhidden.shape}], expected [${N}, ${C}]`);
  if (N === 0) return;
  const R = Math.min(chunk, N);
  const temps: GpuTensor[] = [];
  const temp = (shape: number[], label: string): GpuTensor<'f32'> => {
    const t = GpuTensor.empty(ctx, shape, 'f32', label);
    temps.push(t);
    return t;
  };
  try {
    const h = temp([R, C], 'distill.hidden_rows');
    const z = temp([R, V], 'distill.logits');
    const scratch = distillScratch(ctx, R, V);
    temps.push(scratch);
    const stat = opts.stat ?? temp([N, 8], 'distill.stat');
    const dh = backward ? temp([R, C], 'distill.dhidden_rows') : undefined;
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
        const o = { tau: opts.tau, divergence: opts.divergence, row0, rows, encoder: enc };
        distillForward(ctx, opts.loss, stat, z, teacher, { ...o, scratch });
        if (backward) distillBackward(ctx, z, stat, teacher, { ...o, gradScale: opts.gradScale! });
      });
      if (backward && dh) {
        step((enc) => backward(enc, dh, z, h));
        step((enc) => enc.copyBufferToBuffer(dh.buffer, 0, opts.dhidden!.buffer, row0 * C * 4, rows * C * 4));
      }
    }
  } finally {
    for (const t of temps) t.destroy();
  }
}
