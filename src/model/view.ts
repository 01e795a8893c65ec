// Views: one GPU buffer seen under another shape (q as [N, H·D] for its
// projection and [B, T, H, D] for attention). Kernel wrappers check shapes and
// bind whole buffers, so a view is a GpuTensor that shares the buffer and the
// element count. A view never owns memory: destroying it does nothing (the
// ledger counts the buffer once, through its owner).
// GpuTensor has no public view constructor yet (src/gpu/buffers.ts is another
// layer's file); this is the one place that builds them, to be replaced by a
// GpuTensor method when that file grows one.
import { elementCount, GpuTensor, type DType } from '../gpu/buffers.ts';

export function viewAs<D extends DType>(t: GpuTensor<D>, shape: readonly number[]): GpuTensor<D> {
  if (elementCount(shape) !== t.size) throw new RangeError(`view: [${shape}] holds ${elementCount(shape)} values, the tensor [${t.shape}] ${t.size}`);
  if (shape.length === t.shape.length && shape.every((n, i) => n === t.shape[i])) return t;
  const v = Object.create(Object.getPrototypeOf(t) as object) as GpuTensor<D>;
  // Own fields of the owner (ctx, buffer, dtype, byteSize), a new shape, and `freed`
  // set so that GpuTensor.destroy() returns at once for the view.
  Object.assign(v, t, { shape: [...shape], freed: true });
  return v;
}
