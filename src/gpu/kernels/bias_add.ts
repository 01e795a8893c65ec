// Typed wrapper of the broadcast bias add of a linear layer's output:
//   biasAdd   y[n, :] ← y[n, :] + b     bias_add.wgsl (in place)
// Shapes: y [..., O] (any leading dimensions), b [O].
import type { GpuContext } from '../device.ts';
import type { GpuTensor } from '../buffers.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count, foldedGrid, type KernelOptions } from './elementwise.ts';

const WG = 256;
const params = new UniformStruct({ count: 'u32', O: 'u32' });
const KERNEL: KernelDef = { shader: 'bias_add', bindings: ['uniform', 'read', 'storage'], constants: { WG } };

/** y ← y + b broadcast over the rows of y (b's length must equal y's last dimension). */
export function biasAdd(ctx: GpuContext, y: GpuTensor<'f32'>, b: GpuTensor<'f32'>, opts: KernelOptions = {}): void {
  const O = y.shape[y.shape.length - 1];
  if (b.shape.length !== 1 || b.size !== O || O === undefined) throw new RangeError(`biasAdd: bias [${b.shape}] does not match the last dimension of y [${y.shape}]`);
  if (y === b) throw new RangeError('biasAdd: y and b are the same tensor');
  const count = y.size;
  checkU32Count('biasAdd', count);
  if (count === 0) return;
  dispatch(ctx, KERNEL, { uniform: params.pack({ count, O }), buffers: [b.buffer, y.buffer], workgroups: foldedGrid(count, WG, opts.foldAt), encoder: opts.encoder });
}
