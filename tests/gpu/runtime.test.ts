// The kernel runtime: ledger accounting, tensor upload/readback, limits checks,
// pipeline cache reuse, and the context's reported facts.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor, ledgerOf } from '../../src/gpu/buffers.ts';
import { GpuLimitError } from '../../src/gpu/errors.ts';
import { getPipeline } from '../../src/gpu/pipelines.ts';

describe('gpu context and runtime', () => {
  it('requests the adapter limits, not the spec defaults', async () => {
    const ctx = await gpu();
    // The spec default for storage bindings is 128 MiB; SwiftShader and every
    // desktop GPU offer more, so a granted value above it shows the request worked.
    expect(ctx.limits.maxStorageBufferBindingSize).toBeGreaterThan(128 * 1024 * 1024);
    expect(ctx.limits.maxBufferSize).toBeGreaterThanOrEqual(ctx.limits.maxStorageBufferBindingSize > 2 ** 30 ? 2 ** 30 : 0);
    expect(typeof ctx.features.f16).toBe('boolean');
    expect(ctx.adapter.description.length + ctx.adapter.vendor.length).toBeGreaterThan(0);
  });

  it('tracks live and peak bytes in the ledger', async () => {
    const ctx = await gpu();
    const l = ledgerOf(ctx);
    const before = l.live;
    l.resetPeak();
    const a = GpuTensor.empty(ctx, [10, 10], 'f32');
    const b = GpuTensor.empty(ctx, [3], 'u32');
    expect(l.live - before).toBe(400 + 12);
    a.destroy();
    a.destroy(); // idempotent: must not double-count
    expect(l.live - before).toBe(12);
    expect(l.peak - before).toBe(412);
    b.destroy();
    expect(l.live).toBe(before);
  });

  it('round-trips data and keeps dtype', async () => {
    const ctx = await gpu();
    const t = GpuTensor.from(ctx, new Uint32Array([1, 2, 0xffffffff]), [3], 'u32');
    const back = await t.read();
    expect(back).toBeInstanceOf(Uint32Array);
    expect([...back]).toEqual([1, 2, 0xffffffff]);
    t.destroy();
    const z = GpuTensor.empty(ctx, [0], 'f32');
    expect((await z.read()).length).toBe(0);
    z.destroy();
  });

  it('refuses a tensor larger than one binding, naming the limit', async () => {
    const ctx = await gpu();
    const n = Math.floor(ctx.limits.maxStorageBufferBindingSize / 4) + 1;
    expect(() => GpuTensor.empty(ctx, [n], 'f32', 'huge')).toThrow(GpuLimitError);
    expect(() => GpuTensor.empty(ctx, [2, -1], 'f32')).toThrow(RangeError);
  });

  it('caches pipelines per shader and constants', async () => {
    const ctx = await gpu();
    const def = { shader: 'matmul_naive', bindings: ['uniform', 'read', 'read', 'storage'] as const };
    expect(getPipeline(ctx, def)).toBe(getPipeline(ctx, { ...def }));
    expect(getPipeline(ctx, { ...def, constants: { WG_X: 8 } })).not.toBe(getPipeline(ctx, def));
  });
});
