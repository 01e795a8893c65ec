// Typed wrappers of causal grouped-query attention:
//   attentionForward   o, lse ← q, k, v          attention_forward.wgsl
//   attentionBackward  dq, dk, dv ← q, k, v, o, lse, do
//                      attention_backward_dq.wgsl (dq and δ = rowsum(do ⊙ o)), then
//                      attention_backward_dkv.wgsl (dk, dv summed over each KV group)
// Shapes: q, o, do [B, T, H, D]; k, v [B, S, K, D]; lse [B, T, H]; H a multiple
// of K; D % 4 == 0. The forward also serves decode: T new queries at absolute
// positions qOffset.. against a KV cache of S ≥ qOffset + T rows per batch, of
// which the first kvLen = qOffset + T are used. The backward is for training
// shapes (qOffset = 0, S = T). Scale is 1/sqrt(D); RoPE is applied before.
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { dispatch, submit, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count, foldedGrid } from './elementwise.ts';
import { resolveAttentionDims, type ResolvedAttentionDims } from '../../arch/attention_dims.ts';

const params = new UniformStruct({ B: 'u32', T: 'u32', H: 'u32', K: 'u32', D: 'u32', S: 'u32', kvLen: 'u32', qOffset: 'u32', window: 'u32', scale: 'f32' });
const FORWARD: KernelDef = { shader: 'attention_forward', bindings: ['uniform', 'read', 'read', 'read', 'storage', 'storage'] };
const BACKWARD_DQ: KernelDef = { shader: 'attention_backward_dq', bindings: ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'storage', 'storage'] };
const BACKWARD_DKV: KernelDef = { shader: 'attention_backward_dkv', bindings: ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'storage', 'storage'] };
const WG = 64; // @workgroup_size of all three kernels
const ROWS = 4; // query (forward, dq) or key (dkv) rows per invocation

export interface AttentionOptions {
  /** Absolute position of q's first row (decode with a KV cache); 0 for training. */
  qOffset?: number;
  /** Sliding-window size; 0 / undefined = full causal attention. */
  window?: number;
  /** Record into this encoder instead of submitting at once. */
  encoder?: GPUCommandEncoder;
}

const shapeOf = (t: GpuTensor) => `[${t.shape.join(', ')}]`;

function expectShape(what: string, t: GpuTensor, want: number[]): void {
  if (t.shape.length !== want.length || t.shape.some((n, i) => n !== want[i]))
    throw new RangeError(`attention: ${what} is ${shapeOf(t)}, expected [${want.join(', ')}]`);
}

/** Dimensions from q [B, T, H, D] and k [B, S, K, D], checked against every other tensor. */
function dimsFrom(q: GpuTensor, k: GpuTensor, v: GpuTensor, opts: AttentionOptions): ResolvedAttentionDims {
  if (q.shape.length !== 4 || k.shape.length !== 4) throw new RangeError(`attention: q ${shapeOf(q)} and k ${shapeOf(k)} must be 4-D ([B, T, H, D] and [B, S, K, D])`);
  const [B, T, H, D] = q.shape;
  const [, S, K] = k.shape;
  expectShape('k', k, [B, S, K, D]);
  expectShape('v', v, [B, S, K, D]);
  if (D % 4 !== 0) throw new RangeError(`attention: head dim D = ${D} must be a multiple of 4 (vec4 rows)`);
  const r = resolveAttentionDims({ B, T, H, K, D, S, qOffset: opts.qOffset ?? 0, window: opts.window ?? 0 });
  checkU32Count('attention q', q.size);
  checkU32Count('attention k', k.size);
  return r;
}

function pack(r: ResolvedAttentionDims): ArrayBuffer {
  return params.pack({ B: r.B, T: r.T, H: r.H, K: r.K, D: r.D, S: r.S, kvLen: r.kvLen, qOffset: r.qOffset, window: r.window, scale: r.scale });
}

/** o [B, T, H, D] and lse [B, T, H] ← causal attention of q over the first qOffset + T rows of k, v. */
export function attentionForward(
  ctx: GpuContext,
  o: GpuTensor<'f32'>,
  lse: GpuTensor<'f32'>,
  q: GpuTensor<'f32'>,
  k: GpuTensor<'f32'>,
  v: GpuTensor<'f32'>,
  opts: AttentionOptions = {},
): void {
  const r = dimsFrom(q, k, v, opts);
  expectShape('o', o, [r.B, r.T, r.H, r.D]);
  expectShape('lse', lse, [r.B, r.T, r.H]);
  if (r.B * r.T * r.H === 0) return;
  dispatch(ctx, FORWARD, {
    uniform: pack(r),
    buffers: [q.buffer, k.buffer, v.buffer, o.buffer, lse.buffer],
    workgroups: foldedGrid(r.B * Math.ceil(r.T / ROWS) * r.H, WG),
    encoder: opts.encoder,
  });
}

export interface AttentionGrads {
  dq: GpuTensor<'f32'>; // [B, T, H, D]
  dk: GpuTensor<'f32'>; // [B, T, K, D]
  dv: GpuTensor<'f32'>; // [B, T, K, D]
}

export interface AttentionBackwardOptions extends Omit<AttentionOptions, 'qOffset'> {
  /**
   * Scratch for δ = rowsum(do ⊙ o), [B, T, H]. Required with an encoder (a
   * buffer destroyed before its command buffer is submitted would invalidate
   * it); allocated and freed here otherwise.
   */
  delta?: GpuTensor<'f32'>;
}

/** dq, dk, dv (overwritten) ← backward of attentionForward for training shapes (qOffset = 0, S = T). */
export function attentionBackward(
  ctx: GpuContext,
  grads: AttentionGrads,
  q: GpuTensor<'f32'>,
  k: GpuTensor<'f32'>,
  v: GpuTensor<'f32'>,
  o: GpuTensor<'f32'>,
  lse: GpuTensor<'f32'>,
  dout: GpuTensor<'f32'>,
  opts: AttentionBackwardOptions = {},
): void {
  const r = dimsFrom(q, k, v, { window: opts.window });
  if (r.S !== r.T) throw new RangeError(`attentionBackward: k has S = ${r.S} rows per batch but q has T = ${r.T}; the backward is for training shapes (S = T, qOffset = 0)`);
  const qShape = [r.B, r.T, r.H, r.D];
  const kShape = [r.B, r.T, r.K, r.D];
  expectShape('o', o, qShape);
  expectShape('do', dout, qShape);
  expectShape('lse', lse, [r.B, r.T, r.H]);
  expectShape('dq', grads.dq, qShape);
  expectShape('dk', grads.dk, kShape);
  expectShape('dv', grads.dv, kShape);
  if (opts.delta) expectShape('delta', opts.delta, [r.B, r.T, r.H]);
  else if (opts.encoder) throw new RangeError('attentionBackward: pass a delta scratch tensor [B, T, H] when recording into an encoder');
  if (r.B * r.T * r.H === 0) return;
  const delta = opts.delta ?? GpuTensor.empty(ctx, [r.B, r.T, r.H], 'f32', 'attention.delta');
  const enc = opts.encoder ?? ctx.device.createCommandEncoder();
  const u = pack(r);
  dispatch(ctx, BACKWARD_DQ, {
    uniform: u,
    buffers: [q.buffer, k.buffer, v.buffer, o.buffer, dout.buffer, lse.buffer, grads.dq.buffer, delta.buffer],
    workgroups: foldedGrid(r.B * Math.ceil(r.T / ROWS) * r.H, WG),
    encoder: enc,
  });
  dispatch(ctx, BACKWARD_DKV, {
    uniform: u,
    buffers: [q.buffer, k.buffer, v.buffer, dout.buffer, lse.buffer, delta.buffer, grads.dk.buffer, grads.dv.buffer],
    workgroups: foldedGrid(r.B * Math.ceil(r.T / ROWS) * r.K, WG),
    encoder: enc,
  });
  if (!opts.encoder) {
    submit(ctx, enc);
    if (!opts.delta) delta.destroy();
  }
}
