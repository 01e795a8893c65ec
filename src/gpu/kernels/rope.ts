// Rotary position embedding (RoPE) for the engine's half-split q/k layout:
//   createRopeTable  inv_freq[D/2] (src/arch/rope_freq.ts, from the config)
//                    uploaded as exact fixed-point turns (one per model)
//   ropeForward      q, k ← R(pos·inv_freq) q, k          rope_forward.wgsl (in place)
//   ropeBackward     dq, dk ← R(−pos·inv_freq) dq, dk    rope_backward.wgsl (in place)
// Every scaling type folds into inv_freq, so the kernels read one table:
// linear divides positions by the factor, which is the same as dividing inv_freq.
import type { GpuContext } from '../device.ts';
import { GpuTensor } from '../buffers.ts';
import { dispatch, type KernelDef } from '../pipelines.ts';
import { UniformStruct } from '../uniforms.ts';
import { checkU32Count, foldedGrid, type KernelOptions } from './elementwise.ts';

/**
 * inv_freq as turns per position, frac(inv_freq / 2π), in 0.64 fixed point:
 * pairs [hi, lo] of u32 words, frac ≈ hi/2³² + lo/2⁶⁴. The kernel multiplies by
 * the integer position with wrapping u32 arithmetic, which is exactly "mod 1 turn".
 */
export function ropeTurnTable(invFreq: Float64Array): Uint32Array {
  const out = new Uint32Array(invFreq.length * 2);
  for (let i = 0; i < invFreq.length; i++) {
    const f = invFreq[i] / (2 * Math.PI);
    const x = (f - Math.floor(f)) * 2 ** 32; // exact: scaling by a power of two
    const hi = Math.floor(x);
    out[2 * i] = hi;
    out[2 * i + 1] = Math.floor((x - hi) * 2 ** 32);
  }
  return out;
}

/** A model's rotary table on the GPU; built once, shared by every layer. */
export interface RopeTable {
  headDim: number;
  invFreq: Float64Array;
  /** u32 [D/2, 2], see ropeTurnTable. */
  turns: GpuTensor<'u32'>;
  /** One f32 bound in place of k when a call rotates q alone (writable bindings must not alias). */
  noK: GpuTensor<'f32'>;
  destroy(): void;
}

export function createRopeTable(ctx: GpuContext, invFreq: Float64Array): RopeTable {
  const turns = GpuTensor.from(ctx, ropeTurnTable(invFreq), [invFreq.length, 2], 'u32', 'rope.turns');
  const noK = GpuTensor.empty(ctx, [1], 'f32', 'rope.no_k');
  return {
    headDim: invFreq.length * 2,
    invFreq,
    turns,
    noK,
    destroy: () => {
      turns.destroy();
      noK.destroy();
    },
  };
}

const WG = 64;
const params = new UniformStruct({ N: 'u32', H: 'u32', K: 'u32', HALF: 'u32' });
const BIND = ['uniform', 'read', 'read', 'storage', 'storage'] as const;
const KERNELS = {
  forward: { shader: 'rope_forward', bindings: BIND } satisfies KernelDef,
  backward: { shader: 'rope_backward', bindings: BIND } satisfies KernelDef,
};

/** Heads of a tensor of N rows of heads of width D ([N, H, D], [B, T, H, D] or [N, H·D]). */
function headsOf(what: string, t: GpuTensor<'f32'>, N: number, D: number): number {
  const last = t.shape[t.shape.length - 1];
  checkU32Count(what, t.size);
  const H = N === 0 ? 0 : t.size / (N * D);
  if (t.shape.length < 2 || last % D !== 0 || !Number.isInteger(H))
    throw new RangeError(`${what}: [${t.shape}] is not ${N} rows of heads of width D = ${D}`);
  return H;
}

function rope(dir: 'forward' | 'backward', ctx: GpuContext, q: GpuTensor<'f32'>, k: GpuTensor<'f32'> | null, positions: GpuTensor<'u32'>, table: RopeTable, opts: KernelOptions): void {
  const what = dir === 'forward' ? 'ropeForward' : 'ropeBackward';
  const D = table.headDim;
  const N = positions.size;
  const H = headsOf(`${what}: ${dir === 'forward' ? 'q' : 'dq'}`, q, N, D);
  const K = k ? headsOf(`${what}: ${dir === 'forward' ? 'k' : 'dk'}`, k, N, D) : 0;
  if (k === q) throw new RangeError(`${what}: q and k are the same tensor`);
  checkU32Count(`${what}: N·D/2`, (N * D) / 2);
  if (N === 0) return;
  dispatch(ctx, KERNELS[dir], {
    uniform: params.pack({ N, H, K, HALF: D / 2 }),
    buffers: [positions.buffer, table.turns.buffer, q.buffer, (k ?? table.noK).buffer],
    workgroups: foldedGrid((N * D) / 2, WG, opts.foldAt),
    encoder: opts.encoder,
  });
}

/**
 * Rotate q [N, H, D] and k [N, K, D] in place by pos[n]·inv_freq (positions u32 [N]:
 * absolute positions, so batches, padding and KV-cache offsets are the caller's
 * choice). k may be null to rotate q alone. D comes from the table.
 */
export function ropeForward(ctx: GpuContext, q: GpuTensor<'f32'>, k: GpuTensor<'f32'> | null, positions: GpuTensor<'u32'>, table: RopeTable, opts: KernelOptions = {}): void {
  rope('forward', ctx, q, k, positions, table, opts);
}

/** Backward of ropeForward: rotate dq and dk in place by −pos[n]·inv_freq. */
export function ropeBackward(ctx: GpuContext, dq: GpuTensor<'f32'>, dk: GpuTensor<'f32'> | null, positions: GpuTensor<'u32'>, table: RopeTable, opts: KernelOptions = {}): void {
  rope('backward', ctx, dq, dk, positions, table, opts);
}
