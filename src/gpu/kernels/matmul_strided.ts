// Typed wrapper of matmul_strided: the transposed products of backward passes.
//   nt: Y[T,O] = X[T,K] · W[O,K]ᵀ     nn: Y[T,O] = X[T,K] · W[K,O]     tn: Y[T,O] = X[K,T]ᵀ · W[K,O]
import type { GpuContext } from '../device.ts';
import type { GpuTensor } from '../buffers.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';

export type Transpose = 'nt' | 'nn' | 'tn';
const params = new UniformStruct({ T: 'u32', K: 'u32', O: 'u32', xs_t: 'u32', xs_k: 'u32', ws_o: 'u32', ws_k: 'u32', alpha: 'f32', beta: 'f32' });
const KERNEL: KernelDef = { shader: 'matmul_strided', bindings: ['uniform', 'read', 'read', 'storage'] };

export interface StridedOptions {
  alpha?: number;
  /** 1 accumulates into y (gradient accumulation); 0 overwrites. */
  beta?: number;
  encoder?: GPUCommandEncoder;
}

export function matmulT(ctx: GpuContext, mode: Transpose, y: GpuTensor<'f32'>, x: GpuTensor<'f32'>, w: GpuTensor<'f32'>, opts: StridedOptions = {}): void {
  const [T, O] = y.shape;
  const K = mode === 'tn' ? x.shape[0] : x.shape[1];
  const xT = mode === 'tn' ? x.shape[1] : x.shape[0];
  const [wO, wK] = mode === 'nt' ? [w.shape[0], w.shape[1]] : [w.shape[1], w.shape[0]];
  if (x.shape.length !== 2 || w.shape.length !== 2 || y.shape.length !== 2 || xT !== T || wO !== O || wK !== K)
    throw new RangeError(`matmulT(${mode}): x [${x.shape}], w [${w.shape}] → y [${y.shape}] do not fit`);
  if (T === 0 || O === 0) return;
  const xs = mode === 'tn' ? [1, T] : [K, 1];
  const ws = mode === 'nt' ? [K, 1] : [1, O];
  dispatch(ctx, KERNEL, {
    uniform: params.pack({ T, K, O, xs_t: xs[0], xs_k: xs[1], ws_o: ws[0], ws_k: ws[1], alpha: opts.alpha ?? 1, beta: opts.beta ?? 0 }),
    buffers: [x.buffer, w.buffer, y.buffer],
    workgroups: [Math.ceil(O / 32), Math.ceil(T / 32)],
    encoder: opts.encoder,
  });
}
