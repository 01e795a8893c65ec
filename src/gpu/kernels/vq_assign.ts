// Typed wrapper of the nearest-entry search (vq_assign.wgsl), the assignment
// step of the learned-codebook k-means (src/quant/vq/kmeans.ts):
//   vqAssign      out[v] ← argmin_e Σ_j w[v mod P, j]·(x[v, j] − table[e, j])²
//                 x [N, d], table [C, d], w [P, d], out u32 [N]; d ∈ {2, 4, 8}
//   gpuAssigner   the encoder's Assigner on this device: host vectors in chunks
//                 that fit one storage binding, the table and weights uploaded
//                 once per call, the indices read back.
// N is split over dispatches of at most the device's workgroup-count limit
// (64 vectors per workgroup); the reference is src/ref/vq_assign.ts.
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { GpuLimitError } from '../errors.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import type { AssignProblem, Assigner } from '../../quant/vq/kmeans.ts';

/** Vectors per workgroup (WG · R in vq_assign.wgsl). */
const WG = 64 * 4;
const params = new UniformStruct({ N: 'u32', C: 'u32', P: 'u32', base: 'u32' });
const kernel = (d: number): KernelDef => ({ shader: 'vq_assign', bindings: ['uniform', 'read', 'read', 'read', 'storage'], constants: { D: d } });

export interface VqAssignOptions {
  encoder?: GPUCommandEncoder;
  /** Workgroups per dispatch (default: the device's maxComputeWorkgroupsPerDimension); small values test the split. */
  maxWorkgroups?: number;
}

/** out ← the nearest entry of `table` for each row of x, under the per-position element weights w. */
export function vqAssign(ctx: GpuContext, out: GpuTensor<'u32'>, x: GpuTensor<'f32'>, table: GpuTensor<'f32'>, w: GpuTensor<'f32'>, opts: VqAssignOptions = {}): void {
  const [N, d] = x.shape;
  const [C, dt] = table.shape;
  const [P, dw] = w.shape;
  if (x.shape.length !== 2 || table.shape.length !== 2 || w.shape.length !== 2 || d !== dt || d !== dw || ![2, 4, 8].includes(d))
    throw new RangeError(`vqAssign: x [${x.shape}], table [${table.shape}] and weights [${w.shape}] must be [·, d] with one d ∈ {2, 4, 8}`);
  if (out.shape.length !== 1 || out.size !== N) throw new RangeError(`vqAssign: output [${out.shape}] for ${N} vectors`);
  if (C < 1 || P < 1) throw new RangeError(`vqAssign: a table of ${C} entries, ${P} weight rows`);
  if (N === 0) return;
  const max = Math.min(opts.maxWorkgroups ?? ctx.limits.maxComputeWorkgroupsPerDimension, ctx.limits.maxComputeWorkgroupsPerDimension);
  const def = kernel(d);
  for (let base = 0; base < N; base += max * WG) {
    const groups = Math.min(max, Math.ceil((N - base) / WG));
    dispatch(ctx, def, { uniform: params.pack({ N, C, P, base }), buffers: [x.buffer, table.buffer, w.buffer, out.buffer], workgroups: [groups], encoder: opts.encoder });
  }
}

export interface GpuAssignerOptions extends VqAssignOptions {
  /** Vectors per upload (default: what one storage binding holds); rounded down to whole matrix rows. */
  maxVectors?: number;
}

/** The k-means encoder's assignment step on this device (encodeLearned({ assign: gpuAssigner(ctx) })). */
export function gpuAssigner(ctx: GpuContext, opts: GpuAssignerOptions = {}): Assigner {
  return async (p: AssignProblem): Promise<Uint32Array> => {
    const { n, d, size, positions: P } = p;
    const bind = Math.min(ctx.limits.maxBufferSize, ctx.limits.maxStorageBufferBindingSize);
    const fit = Math.min(opts.maxVectors ?? Infinity, Math.floor(bind / (4 * d)));
    // Chunks start at a multiple of P, so a vector's position is its index in the chunk mod P.
    const chunk = Math.min(n, Math.floor(fit / P) * P);
    if (chunk < 1) throw new GpuLimitError(`vqAssign: one matrix row of ${P} vectors of ${d} does not fit one storage binding of ${bind} bytes`, 'maxStorageBufferBindingSize', P * d * 4, bind);
    const table = GpuTensor.from(ctx, p.table, [size, d], 'f32', 'vq_assign.table');
    const w = GpuTensor.from(ctx, p.weights, [P, d], 'f32', 'vq_assign.weights');
    let x = GpuTensor.empty(ctx, [chunk, d], 'f32', 'vq_assign.x');
    let out = GpuTensor.empty(ctx, [chunk], 'u32', 'vq_assign.out');
    const idx = new Uint32Array(n);
    try {
      for (let v0 = 0; v0 < n; v0 += chunk) {
        const m = Math.min(chunk, n - v0);
        if (m !== x.shape[0]) {
          // The last, shorter chunk: buffers of its own size, so the kernel runs over m vectors only.
          [x, out].forEach((t) => t.destroy());
          x = GpuTensor.empty(ctx, [m, d], 'f32', 'vq_assign.x');
          out = GpuTensor.empty(ctx, [m], 'u32', 'vq_assign.out');
        }
        x.write(p.x.subarray(v0 * d, (v0 + m) * d));
        vqAssign(ctx, out, x, table, w, opts);
        idx.set(await out.read(), v0);
      }
    } finally {
      [table, w, x, out].forEach((t) => t.destroy());
    }
    return idx;
  };
}
