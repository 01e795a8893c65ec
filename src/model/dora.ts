// DoRA on a linear layer of the model (PEFT's semantics, formats-2.md §5):
//   y = (m/n) ⊙ (W·x + s·B·(A·x)) + b,   n[o] = ‖W_o + s·(B·A)_o‖₂ (per output row, over the inputs)
// with W the frozen base (dense, scalar-quantized or codebook), A, B the LoRA
// factors and m [O] a trained magnitude. n is treated as a constant in the
// backward, as PEFT does (weight_norm.detach()).
// How n is formed without a dense W + s·B·A (which a quantized base never has):
//   n² = ‖W_o‖² + 2s·Σ_k B[o,k]·(A·Wᵀ)[k,o] + s²·B_o·(A·Aᵀ)·B_oᵀ
// ‖W_o‖² once per run (rowSumSquares: the layer's forward on identity columns,
// summed by sumsq_columns), A·Wᵀ by the layer's own quantized forward with A's
// R rows as tokens, A·Aᵀ by one small matmul; dora_norm.wgsl adds them up.
// Per step that is one forward of R tokens per layer (R ≪ the B·T tokens of a
// batch) and no [O, I] temporary; `npm run bench -- dora` measures it against
// dequantizing W. Forward: the layer's kernels (LoRA fused) write W·x + s·B·A·x
// and dora_scale.wgsl multiplies by m/n before the bias. Backward: the
// unscaled output Z is recomputed (one more forward of the layer; nothing
// extra is kept per layer between forward and backward), dora_backward.wgsl
// forms dZ = dY·m/n and dm = Σ_t dY·Z/n, and the LoRA backward runs on dZ.
import type { GpuContext } from '../gpu/device.ts';
import { GpuTensor } from '../gpu/buffers.ts';
import { matmul } from '../gpu/kernels/matmul.ts';
import { qlinearForward, type GpuLora } from '../gpu/kernels/qlinear.ts';
import { doraBackward, doraNorm } from '../gpu/kernels/dora.ts';
import { sumsqColumns } from '../gpu/kernels/sumsq.ts';
import { afterSubmit, submit } from '../gpu/pipelines.ts';
import type { GpuLinear } from './linear.ts';
import { loraDenseForward } from './lora.ts';

/** DoRA's per-layer buffers, each [O]. */
export interface DoraTrain {
  /** The magnitude m (trained) and its gradient. */
  m: GpuTensor<'f32'>;
  dm: GpuTensor<'f32'>;
  /** n, recomputed after every update (norms()). */
  n: GpuTensor<'f32'>;
  /** ‖W_o‖² of the base: once per run, or at every apply() when the layer's codebook trains (Trainable.apply). */
  wsq: GpuTensor<'f32'>;
}

/** Columns of the identity run through the base at once by rowSumSquares. */
const IDENTITY_CHUNK = 256;

function temp(ctx: GpuContext, enc: GPUCommandEncoder, shape: number[], label: string): GpuTensor<'f32'> {
  const t = GpuTensor.empty(ctx, shape, 'f32', label);
  afterSubmit(enc, () => t.destroy());
  return t;
}

/** y [T, O] ← x·Wᵀ (+ s·(x·Aᵀ)·Bᵀ with `lora`), no bias, no DoRA scale; f32 products (no f16 kernel). */
export function unscaledForward(ctx: GpuContext, enc: GPUCommandEncoder, y: GpuTensor<'f32'>, x: GpuTensor<'f32'>, lin: GpuLinear, lora?: GpuLora, f16 = false): void {
  const plain = lora && { a: lora.a, b: lora.b, scale: lora.scale };
  if (lin.kind === 'dense') {
    matmul(ctx, y, x, lin.w, { encoder: enc });
    if (plain) loraDenseForward(ctx, enc, y, x, plain);
  } else qlinearForward(ctx, y, x, lin.w, plain, { encoder: enc, f16 });
}

/** wsq [O] ← ‖W_o‖² of the layer's base: its forward on chunks of identity columns (exact: one product per output). Submits. */
export function rowSumSquares(ctx: GpuContext, lin: GpuLinear, wsq: GpuTensor<'f32'>): void {
  const { rows: O, cols: I } = lin;
  if (wsq.size !== O) throw new RangeError(`rowSumSquares: wsq [${wsq.shape}] is not [${O}]`);
  wsq.write(new Float32Array(O));
  for (let c0 = 0; c0 < I; c0 += IDENTITY_CHUNK) {
    const k = Math.min(IDENTITY_CHUNK, I - c0);
    const eye = new Float32Array(k * I);
    for (let j = 0; j < k; j++) eye[j * I + c0 + j] = 1;
    const enc = ctx.device.createCommandEncoder();
    const x = GpuTensor.from(ctx, eye, [k, I], 'f32', 'dora.eye');
    afterSubmit(enc, () => x.destroy());
    const cols = temp(ctx, enc, [k, O], 'dora.wcols'); // W[:, c0 .. c0 + k]ᵀ
    unscaledForward(ctx, enc, cols, x, lin);
    sumsqColumns(ctx, wsq, cols, { encoder: enc });
    submit(ctx, enc);
  }
}

/** dora.n ← ‖W_o + s·(B·A)_o‖ for the current A, B (recorded into enc). */
export function doraNorms(ctx: GpuContext, enc: GPUCommandEncoder, lin: GpuLinear, lora: GpuLora, dora: Pick<DoraTrain, 'n' | 'wsq'>): void {
  const R = lora.a.shape[0];
  const awt = temp(ctx, enc, [R, lin.rows], 'dora.awt');
  const g = temp(ctx, enc, [R, R], 'dora.aat');
  unscaledForward(ctx, enc, awt, lora.a, lin); // A·Wᵀ: A's rows as tokens
  matmul(ctx, g, lora.a, lora.a, { encoder: enc }); // A·Aᵀ
  doraNorm(ctx, dora.n, dora.wsq, awt, lora.b, g, lora.scale, { encoder: enc });
}

/**
 * The backward of DoRA's scale: Z recomputed from x, then dZ = dY·m/n and
 * dm (+)= Σ_t dY·Z/n. Returns dZ (a temporary of enc), the gradient the LoRA
 * and input backward take in place of dY.
 */
export function doraBackwardStep(ctx: GpuContext, enc: GPUCommandEncoder, lin: GpuLinear, x: GpuTensor<'f32'>, dy: GpuTensor<'f32'>, lora: GpuLora, dora: DoraTrain, accumulate: boolean): GpuTensor<'f32'> {
  const z = temp(ctx, enc, [...dy.shape], 'dora.z');
  const dz = temp(ctx, enc, [...dy.shape], 'dora.dz');
  unscaledForward(ctx, enc, z, x, lin, lora);
  doraBackward(ctx, dy, z, dora.m, dora.n, dz, dora.dm, { accumulate, encoder: enc });
  return dz;
}

/**
 * DoRA's temporaries outside a step, in bytes, for the planner: Trainable.apply()
 * records every layer's norms into one submit (A·Wᵀ [R, O], A·Aᵀ [R, R] and the
 * f32 forward's copies of X over R tokens, `xBytes(R)`, all live at once); at
 * the start, one identity chunk [k, I] and its output [k, O] per submit.
 */
export function doraSideBytes(layers: readonly { O: number; I: number; R: number; xBytes: (n: number) => number }[], bytes: (shape: number[]) => number): number {
  let norms = 0;
  let init = 0;
  for (const { O, I, R, xBytes } of layers) {
    norms += bytes([R, O]) + bytes([R, R]) + xBytes(R);
    const k = Math.min(IDENTITY_CHUNK, I);
    init = Math.max(init, bytes([k, I]) + bytes([k, O]) + xBytes(k));
  }
  return Math.max(norms, init);
}
