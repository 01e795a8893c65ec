// castF16: X f32 → f16 (cast_f16.wgsl), for the f16 kernels' activations.
// GpuTensor has no f16 dtype (Node has no Float16Array to read one back), so
// the result is a u32 tensor of f16 pairs: element 2i in the low half of word i,
// as WGSL lays out array<f16> (little-endian).
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count, foldedGrid, type KernelOptions } from './elementwise.ts';

const params = new UniformStruct({ n4: 'u32' });
const CAST: KernelDef = { shader: 'cast_f16', bindings: ['uniform', 'read', 'storage'] };

/** y (u32, size n/2) ← f16(x) for x of n f32 values, n a multiple of 4. Needs ctx.features.f16. */
export function castF16(ctx: GpuContext, y: GpuTensor<'u32'>, x: GpuTensor<'f32'>, opts: KernelOptions = {}): void {
  const n = x.size;
  if (!ctx.features.f16) throw new RangeError('castF16: this device has no shader-f16');
  if (n % 4 !== 0) throw new RangeError(`castF16: x [${x.shape}] has ${n} values, not a multiple of 4`);
  if (y.size * 2 !== n) throw new RangeError(`castF16: y [${y.shape}] holds ${y.size * 2} f16 values, x [${x.shape}] has ${n}`);
  checkU32Count('castF16', n);
  if (n === 0) return;
  dispatch(ctx, CAST, { uniform: params.pack({ n4: n / 4 }), buffers: [x.buffer, y.buffer], workgroups: foldedGrid(n / 4, 64, opts.foldAt), encoder: opts.encoder });
}

/** A new u32 tensor holding f16(x) (shape [..., last/2]). */
export function toF16(ctx: GpuContext, x: GpuTensor<'f32'>, label = 'f16', opts: KernelOptions = {}): GpuTensor<'u32'> {
  const shape = [...x.shape];
  shape[shape.length - 1] /= 2;
  const y = GpuTensor.empty(ctx, shape, 'u32', label);
  castF16(ctx, y, x, opts);
  return y;
}
