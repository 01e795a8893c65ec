// Views: one GPU buffer seen under another shape (q as [N, H·D] for its
// projection and [B, T, H, D] for attention). A view never owns memory:
// destroying it does nothing (the ledger counts the buffer once, through its owner).
import type { DType, GpuTensor } from '../gpu/buffers.ts';

export function viewAs<D extends DType>(t: GpuTensor<D>, shape: readonly number[]): GpuTensor<D> {
  if (shape.length === t.shape.length && shape.every((n, i) => n === t.shape[i])) return t;
  return t.view(shape);
}
