// LoRA adapters of the linear layers: y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ with A [R, I],
// B [O, R] and s = alpha / R, initialised as PEFT does (LoraLayer.reset_lora_parameters):
// A by kaiming_uniform_(a = √5), i.e. U(−1/√I, 1/√I) over its fan-in I, and
// B = 0, so a fresh adapter leaves the model unchanged. Quantized layers fuse
// the rank-R term into the qlinear kernels (src/gpu/kernels/qlinear.ts); dense
// (f32) layers, the LoRA baseline, run it here as two small matmuls, forward
// and backward. Temporaries live until the caller's encoder is submitted.
import type { GpuContext } from '../gpu/device.ts';
import { GpuTensor } from '../gpu/buffers.ts';
import { matmul } from '../gpu/kernels/matmul.ts';
import { matmulT } from '../gpu/kernels/matmul_strided.ts';
import type { GpuLora } from '../gpu/kernels/qlinear.ts';
import { afterSubmit } from '../gpu/pipelines.ts';
import { rng } from '../gpu/random.ts';

export interface LoraOptions {
  rank: number;
  /** s = alpha / rank; default alpha = rank (s = 1). */
  alpha?: number;
  /** Seed of A's uniform initialisation. */
  seed?: number;
}

/**
 * Per-matrix ranks by `${layer}.${role}` (a --budget plan's): they override the
 * one rank; 0 puts no LoRA on that matrix. The scale stays alpha / rank per matrix.
 */
export type LoraRanks = Readonly<Record<string, number>>;

/** The LoRA rank of one layer's role: `ranks`' entry, else the one `rank`. */
export function loraRankAt(o: { rank: number; ranks?: LoraRanks }, layer: number, role: string): number {
  return o.ranks?.[`${layer}.${role}`] ?? o.rank;
}

/** A [R, I] ~ U(−1/√I, 1/√I) (seeded), B [O, R] = 0. */
export function createLora(ctx: GpuContext, I: number, O: number, opts: LoraOptions, label = 'lora'): GpuLora {
  const R = opts.rank;
  if (!Number.isInteger(R) || R < 1) throw new RangeError(`LoRA: rank ${R} is not a positive integer`);
  const alpha = opts.alpha ?? R;
  if (!Number.isFinite(alpha)) throw new RangeError(`LoRA: alpha ${alpha} is not a finite number`);
  const r = rng(opts.seed ?? 0);
  const bound = 1 / Math.sqrt(I);
  const a = GpuTensor.from(ctx, Float32Array.from({ length: R * I }, () => (2 * r() - 1) * bound), [R, I], 'f32', `${label}.lora_a`);
  try {
    return { a, b: GpuTensor.empty(ctx, [O, R], 'f32', `${label}.lora_b`), scale: alpha / R };
  } catch (e) {
    a.destroy();
    throw e;
  }
}

function temp(ctx: GpuContext, enc: GPUCommandEncoder, shape: number[], label: string): GpuTensor<'f32'> {
  const t = GpuTensor.empty(ctx, shape, 'f32', label);
  afterSubmit(enc, () => t.destroy());
  return t;
}

/** y [N, O] += s·(x·Aᵀ)·Bᵀ for a dense layer. */
export function loraDenseForward(ctx: GpuContext, enc: GPUCommandEncoder, y: GpuTensor<'f32'>, x: GpuTensor<'f32'>, lora: GpuLora): void {
  const xa = temp(ctx, enc, [x.shape[0], lora.a.shape[0]], 'lora.xa');
  matmul(ctx, xa, x, lora.a, { encoder: enc });
  matmulT(ctx, 'nt', y, xa, lora.b, { alpha: lora.scale, beta: 1, encoder: enc });
}

export interface DenseGrads {
  /** dX [N, I] ← dY·W (+ s·(dY·B)·A); `dxAccumulate` adds into it instead. */
  dx?: GpuTensor<'f32'>;
  dxAccumulate?: boolean;
  /** LoRA factor gradients (A [R, I], B [O, R]); `accumulate` adds into them (micro-batches). */
  da?: GpuTensor<'f32'>;
  db?: GpuTensor<'f32'>;
  accumulate?: boolean;
}

/**
 * Backward of a dense layer (W [O, I] f32, frozen) with an optional adapter:
 * dX = dY·W + s·U·A, dA = s·Uᵀ·X, dB = s·dYᵀ·(X·Aᵀ), U = dY·B — the same
 * products qlinearBackward forms around its quantized W.
 */
export function denseBackward(ctx: GpuContext, enc: GPUCommandEncoder, dy: GpuTensor<'f32'>, x: GpuTensor<'f32'>, w: GpuTensor<'f32'>, g: DenseGrads, lora?: GpuLora): void {
  if ((g.da || g.db) && !lora) throw new RangeError('denseBackward: LoRA gradients asked for without LoRA factors');
  const N = x.shape[0];
  if (g.dx) matmulT(ctx, 'nn', g.dx, dy, w, { beta: g.dxAccumulate ? 1 : 0, encoder: enc });
  if (!lora) return;
  const R = lora.a.shape[0];
  const beta = g.accumulate ? 1 : 0;
  if (g.dx || g.da) {
    const u = temp(ctx, enc, [N, R], 'lora.u');
    matmulT(ctx, 'nn', u, dy, lora.b, { encoder: enc });
    if (g.dx) matmulT(ctx, 'nn', g.dx, u, lora.a, { alpha: lora.scale, beta: 1, encoder: enc });
    if (g.da) matmulT(ctx, 'tn', g.da, u, x, { alpha: lora.scale, beta, encoder: enc });
  }
  if (g.db) {
    const xa = temp(ctx, enc, [N, R], 'lora.xa');
    matmul(ctx, xa, x, lora.a, { encoder: enc });
    matmulT(ctx, 'tn', g.db, dy, xa, { alpha: lora.scale, beta, encoder: enc });
  }
}
