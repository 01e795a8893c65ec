// Training a learned codebook's entries with the indices frozen (the VQ
// counterpart of PEQA; src/model/trainable.ts 'codebooks'):
//   dtable[c, j] = Σ over the weights whose code is c, at position j of their
//                  vector, of scale · dW,   dW = dYᵀ·X (summed over the batch).
// dW goes to a scratch [O, I] through the tiled matmul, then
// vqlinear_backward_table.wgsl gathers it per entry along an inverted index of
// the codes (CSR, built once per matrix here: the codes never change while
// the table trains). See the shader's header for why a gather and not atomics.
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { dispatch, submit, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import type { GpuQTensor } from '../qtensor_gpu.ts';
import { matmulT } from './matmul_strided.ts';
import { foldedGrid } from './elementwise.ts';
import { getIndex, vqGroupsPerRow, type VqTensor } from '../../quant/vq/vqtensor.ts';

const params = new UniformStruct({ I: 'u32', NG: 'u32', G: 'u32', SIZE: 'u32', VPR: 'u32', beta: 'f32' });

/** The inverted index of a codebook tensor: entry c is used by the vectors uses[start[c] .. start[c+1]), each named o·VPR + v. */
export interface TableUses {
  size: number;
  /** Vectors per padded row (P / d, vqtensor.ts). */
  vpr: number;
  start: Uint32Array;
  uses: Uint32Array;
}

/** Counting sort of every (row, vector) by its index: O(O·I/d), once per matrix. */
export function tableUses(q: VqTensor): TableUses {
  const d = q.codebook.dim;
  const vpr = (Math.ceil(q.cols / 32) * 32) / d;
  const vectors = Math.ceil(q.cols / d); // the padding vectors past the row hold no weight
  const size = q.codebook.size;
  if (q.rows * vpr > 0xffffffff) throw new RangeError(`tableUses: ${q.rows}×${vpr} vectors exceed a u32 position`);
  const idx = new Uint32Array(q.rows * vectors);
  const start = new Uint32Array(size + 1);
  for (let o = 0; o < q.rows; o++)
    for (let v = 0; v < vectors; v++) {
      const e = getIndex(q, o, v);
      idx[o * vectors + v] = e;
      start[e + 1]++;
    }
  for (let c = 0; c < size; c++) start[c + 1] += start[c];
  const fill = start.slice(0, size);
  const uses = new Uint32Array(idx.length);
  for (let o = 0; o < q.rows; o++) for (let v = 0; v < vectors; v++) uses[fill[idx[o * vectors + v]]++] = o * vpr + v;
  return { size, vpr, start, uses };
}

export interface GpuTableUses {
  size: number;
  vpr: number;
  start: GpuTensor<'u32'>;
  uses: GpuTensor<'u32'>;
  destroy(): void;
}

export function uploadTableUses(ctx: GpuContext, u: TableUses, label = 'vqtable'): GpuTableUses {
  const start = GpuTensor.from(ctx, u.start, [u.start.length], 'u32', `${label}.start`);
  // A table nobody uses (a 1-weight matrix) still needs a non-empty binding.
  const list = u.uses.length ? u.uses : new Uint32Array(1);
  const uses = GpuTensor.from(ctx, list, [list.length], 'u32', `${label}.uses`);
  return { size: u.size, vpr: u.vpr, start, uses, destroy: () => (start.destroy(), uses.destroy()) };
}

export interface VqTableGradOptions {
  /** Add into dtable (micro-batches after the first). */
  accumulate?: boolean;
  encoder?: GPUCommandEncoder;
}

/**
 * dtable ← (accumulate ? dtable : 0) + ∂L/∂table of the codebook tensor `w`,
 * from the layer's upstream gradient dy [T, O] and input x [T, I]. `dw` is a
 * scratch [O, I] (overwritten); `dtable` has the table buffer's (padded) shape.
 */
export function vqTableBackward(ctx: GpuContext, dy: GpuTensor<'f32'>, x: GpuTensor<'f32'>, w: GpuQTensor, uses: GpuTableUses, dw: GpuTensor<'f32'>, dtable: GpuTensor<'f32'>, opts: VqTableGradOptions = {}): void {
  const vq = w.vq;
  if (!vq) throw new TypeError('vqTableBackward: not a codebook tensor');
  if (vq.signed) throw new RangeError('vqTableBackward: a signed codebook tensor (its table is a fixed grid, not trained)');
  const [T, I] = x.shape;
  const O = w.rows;
  if (I !== w.cols || dy.shape[0] !== T || dy.shape[1] !== O) throw new RangeError(`vqTableBackward: x [${x.shape}], dy [${dy.shape}] do not fit W [${O}, ${w.cols}]`);
  if (dw.shape[0] !== O || dw.shape[1] !== I) throw new RangeError(`vqTableBackward: scratch [${dw.shape}] is not [${O}, ${I}]`);
  if (dtable.size !== vq.table.size) throw new RangeError(`vqTableBackward: dtable holds ${dtable.size} values, the table ${vq.table.size}`);
  if (uses.vpr !== (Math.ceil(I / 32) * 32) / vq.dim) throw new RangeError('vqTableBackward: the inverted index was built for another shape');
  const enc = opts.encoder ?? ctx.device.createCommandEncoder();
  if (T === 0) {
    if (!opts.accumulate) enc.clearBuffer(dtable.buffer);
  } else {
    matmulT(ctx, 'tn', dw, dy, x, { encoder: enc }); // dW = dYᵀ·X
    dispatch(ctx, { shader: 'vqlinear_backward_table', bindings: ['uniform', 'read', 'read', 'read', 'read', 'storage'], constants: { VD: vq.dim } } satisfies KernelDef, {
      uniform: params.pack({ I, NG: vqGroupsPerRow({ cols: I, groupSize: w.groupSize }), G: w.groupSize, SIZE: uses.size, VPR: uses.vpr, beta: opts.accumulate ? 1 : 0 }),
      buffers: [dw.buffer, w.scale.buffer, uses.start.buffer, uses.uses.buffer, dtable.buffer],
      workgroups: foldedGrid(uses.size, 64),
      encoder: enc,
    });
  }
  if (!opts.encoder) submit(ctx, enc);
}
