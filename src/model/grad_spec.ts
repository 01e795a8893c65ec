// The buffers the model backward (src/model/backward.ts) keeps for a B×T
// batch, in one table: the backward allocates from it and the memory planner
// (src/model/planner.ts) counts from it, so neither keeps its own list.
// Gradients flow through one residual buffer (dres: dL/dx of the current
// layer boundary) updated in place, plus per-branch scratch reused by every
// layer; nothing here is per layer.
import { rmsnormScratchSize } from '../gpu/kernels/rmsnorm.ts';
import type { LlamaConfig } from '../arch/config.ts';

export type GradName = 'dhidden' | 'dres' | 'dattn' | 'dq' | 'dk' | 'dk_raw' | 'dbranch' | 'dv' | 'dh' | 'dg' | 'du' | 'delta' | 'norm_scratch' | 'targets' | 'mask' | 'loss' | 'lse';

export interface GradEntry {
  name: GradName;
  shape: number[];
  dtype: 'f32' | 'u32';
  /** Why it exists (for the planner's breakdown and for readers). */
  role: string;
}

/** Buffers of the backward of one (B, T); `normScratch` when norm weights train (dW partial sums). */
export function gradSpec(c: LlamaConfig, B: number, T: number, normScratch: boolean): GradEntry[] {
  const N = B * T, C = c.hiddenSize, F = c.intermediateSize, QD = c.numHeads * c.headDim, KD = c.numKvHeads * c.headDim;
  const e = (name: GradName, shape: number[], role: string, dtype: 'f32' | 'u32' = 'f32'): GradEntry => ({ name, shape, dtype, role });
  const out = [
    e('targets', [N], 'next-token ids', 'u32'),
    e('mask', [N], 'loss mask', 'u32'),
    e('loss', [N], 'per-token loss'),
    e('lse', [N], 'per-token log-sum-exp'),
    e('dhidden', [N, C], 'dL/dhidden, then each norm input gradient dxn'),
    e('dres', [N, C], 'residual stream gradient, updated in place'),
    e('dattn', [N, QD], 'attention output gradient'),
    e('dq', [N, QD], 'query gradient'),
    e('dk', [N, KD], 'key gradient'),
    e('dv', [N, KD], 'value gradient'),
    e('dh', [N, F], 'SwiGLU output gradient'),
    e('dg', [N, F], 'gate gradient'),
    e('du', [N, F], 'up gradient'),
    e('delta', [B, T, c.numHeads], 'attention backward rowsum(do ⊙ o)'),
  ];
  // q/k norms: dk before the norm needs its own buffer (dq before the norm reuses dattn, dead by then).
  if (c.qkNorm) out.push(e('dk_raw', [N, KD], 'key gradient before the per-head k norm'));
  // Sandwich norms: the gradient at a branch output (before its norm), apart from the residual's.
  if (c.sandwichNorms) out.push(e('dbranch', [N, C], 'attention / MLP output gradient before its output norm'));
  if (normScratch) out.push(e('norm_scratch', [rmsnormScratchSize(N, C)], 'RMSNorm dW partial sums'));
  return out;
}

/** Bytes as the ledger counts them: at least 4 per buffer. */
export const entryBytes = (shape: readonly number[]) => Math.max(4, shape.reduce((a, b) => a * b, 1) * 4);
