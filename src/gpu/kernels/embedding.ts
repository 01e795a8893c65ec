// Token embedding lookup x[N, C] = E[ids[n], :] (embedding_forward.wgsl). The
// embeddings are frozen, so there is no backward. Token ids are checked on the
// CPU when they are uploaded (uploadTokenIds); the kernel also clamps them, so
// ids that bypass the check cannot read out of bounds.
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count, foldedGrid, type KernelOptions } from './elementwise.ts';

const WG = 256;
const params = new UniformStruct({ N: 'u32', C: 'u32', V: 'u32', row0: 'u32', ROWS: 'u32', scale: 'f32' });
const KERNEL: KernelDef = { shader: 'embedding_forward', bindings: ['uniform', 'read', 'read', 'storage'] };

/** Throws a RangeError naming the first id that is not an integer in [0, V) and its position. */
export function validateTokenIds(ids: ArrayLike<number>, V: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= V)
      throw new RangeError(`token id ${id} at position ${i} is outside the vocabulary [0, ${V}) of this model`);
  }
}

/** Token ids [N] as a u32 tensor, after validateTokenIds. */
export function uploadTokenIds(ctx: GpuContext, ids: ArrayLike<number>, V: number, label = 'token_ids'): GpuTensor<'u32'> {
  validateTokenIds(ids, V);
  return GpuTensor.from(ctx, Uint32Array.from(ids), [ids.length], 'u32', label);
}

/**
 * x [N, C] ← E[ids, :] · opts.scale (default 1). `table` is the embedding matrix [V, C], or its row
 * chunks in order ([V₀, C], [V₁, C], ...) when V·C·4 bytes exceed one storage
 * binding. ids [N] u32: ids ≥ V are clamped to V − 1 (use uploadTokenIds to
 * reject them instead).
 */
export function embeddingForward(
  ctx: GpuContext,
  x: GpuTensor<'f32'>,
  table: GpuTensor<'f32'> | readonly GpuTensor<'f32'>[],
  ids: GpuTensor<'u32'>,
  opts: KernelOptions & { scale?: number } = {},
): void {
  const scale = opts.scale ?? 1;
  if (!Number.isFinite(scale)) throw new RangeError(`embeddingForward: scale ${scale} is not finite`);
  const chunks = Array.isArray(table) ? table : [table as GpuTensor<'f32'>];
  if (chunks.length === 0) throw new RangeError('embeddingForward: no table');
  const C = chunks[0].shape[chunks[0].shape.length - 1];
  for (const t of chunks)
    if (t.shape.length !== 2 || t.shape[1] !== C || t.shape[0] === 0) throw new RangeError(`embeddingForward: table chunk [${t.shape}] is not [rows > 0, C = ${C}]`);
  const V = chunks.reduce((s, t) => s + t.shape[0], 0);
  const N = ids.size;
  if (x.size !== N * C || x.shape[x.shape.length - 1] !== C) throw new RangeError(`embeddingForward: x [${x.shape}] is not [${N}, ${C}] for ${N} ids`);
  checkU32Count('embeddingForward: x', x.size);
  checkU32Count('embeddingForward: V', V);
  if (N === 0) return;
  let row0 = 0;
  for (const t of chunks) {
    const ROWS = t.shape[0];
    dispatch(ctx, KERNEL, {
      uniform: params.pack({ N, C, V, row0, ROWS, scale }),
      buffers: [ids.buffer, t.buffer, x.buffer],
      workgroups: foldedGrid(N * C, WG, opts.foldAt),
      encoder: opts.encoder,
    });
    row0 += ROWS;
  }
}
