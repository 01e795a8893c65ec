// Typed wrappers of DWQ's hidden-state term at one depth point (math:
// src/ref/hidden_l1.ts; shader: shaders/hidden_l1.wgsl):
//   hiddenL1Forward   loss[n] += scale · Σ_c |s − t|              (rows that count)
//   hiddenL1Backward  dres[n,c] += gradScale · scale · sign(s − t)  (rows that count)
// Rows count as for the label loss (mask ≠ 0, target < V).
import type { GpuContext } from '../device.ts';
import type { GpuTensor } from '../buffers.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count, foldedGrid, type KernelOptions } from './elementwise.ts';

const params = new UniformStruct({ N: 'u32', C: 'u32', V: 'u32', scale: 'f32', gradScale: 'f32' });
const BIND = ['uniform', 'read', 'read', 'read', 'read', 'storage'] as const;
const FORWARD: KernelDef = { shader: 'hidden_l1', entryPoint: 'forward', bindings: BIND };
const BACKWARD: KernelDef = { shader: 'hidden_l1', entryPoint: 'backward', bindings: BIND };

/** The label loss's rows: targets [N] (≥ V: does not count) and mask [N]. */
export interface CountedRows {
  targets: GpuTensor<'u32'>;
  mask: GpuTensor<'u32'>;
  V: number;
}

function check(what: string, s: GpuTensor<'f32'>, t: GpuTensor<'f32'>, rows: CountedRows, scale: number): [number, number] {
  if (s.shape.length !== 2) throw new RangeError(`${what}: the student's states must be [N, C], got [${s.shape}]`);
  const [N, C] = s.shape;
  if (t.size !== N * C) throw new RangeError(`${what}: the teacher's states are [${t.shape}], the student's [${N}, ${C}] (hidden widths must match)`);
  if (rows.targets.size !== N || rows.mask.size !== N) throw new RangeError(`${what}: targets/mask must be [${N}]`);
  if (!Number.isFinite(scale)) throw new RangeError(`${what}: scale ${scale} is not finite`);
  checkU32Count(what, N * C);
  return [N, C];
}

/** loss[n] += scale · Σ_c |s[n,c] − t[n,c]| on rows that count. */
export function hiddenL1Forward(ctx: GpuContext, loss: GpuTensor<'f32'>, s: GpuTensor<'f32'>, t: GpuTensor<'f32'>, rows: CountedRows, scale: number, opts: KernelOptions = {}): void {
  const [N, C] = check('hiddenL1Forward', s, t, rows, scale);
  if (loss.size !== N) throw new RangeError(`hiddenL1Forward: loss must be [${N}], got [${loss.shape}]`);
  if (N === 0) return;
  dispatch(ctx, FORWARD, {
    uniform: params.pack({ N, C, V: rows.V, scale, gradScale: 0 }),
    buffers: [s.buffer, t.buffer, rows.targets.buffer, rows.mask.buffer, loss.buffer],
    workgroups: [Math.ceil(N / 64)],
    encoder: opts.encoder,
  });
}

/** dres[n,c] += gradScale · scale · sign(s[n,c] − t[n,c]) on rows that count. */
export function hiddenL1Backward(ctx: GpuContext, dres: GpuTensor<'f32'>, s: GpuTensor<'f32'>, t: GpuTensor<'f32'>, rows: CountedRows, scale: number, gradScale: number, opts: KernelOptions = {}): void {
  const [N, C] = check('hiddenL1Backward', s, t, rows, scale);
  if (dres.size !== N * C) throw new RangeError(`hiddenL1Backward: dres must be [${N}, ${C}], got [${dres.shape}]`);
  if (!Number.isFinite(gradScale)) throw new RangeError(`hiddenL1Backward: gradScale ${gradScale} is not finite`);
  if (N * C === 0) return;
  dispatch(ctx, BACKWARD, {
    uniform: params.pack({ N, C, V: rows.V, scale, gradScale }),
    buffers: [s.buffer, t.buffer, rows.targets.buffer, rows.mask.buffer, dres.buffer],
    workgroups: foldedGrid(N * C, 256),
    encoder: opts.encoder,
  });
}
