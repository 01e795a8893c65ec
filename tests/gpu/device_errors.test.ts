// Device loss and implementation errors become typed errors with plain words.
import { describe, expect, it } from 'vitest';
import { createNodeGpuContext } from '../../src/gpu/node.ts';
import { checked } from '../../src/gpu/device.ts';
import { GpuDeviceLostError, GpuValidationError } from '../../src/gpu/errors.ts';

describe('typed GPU errors', () => {
  it('a lost device resolves `lost` with GpuDeviceLostError naming the reason', async () => {
    const ctx = await createNodeGpuContext();
    ctx.destroy();
    const err = await ctx.lost;
    expect(err).toBeInstanceOf(GpuDeviceLostError);
    expect(err.reason).toBe('destroyed');
    expect(err.message).toMatch(/GPU device was lost \(destroyed\)/);
  });

  it('validation errors are caught by checked() and reported by uncapturederror', async () => {
    const ctx = await createNodeGpuContext();
    try {
      const bad = () => ctx.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
      await expect(checked(ctx, 'creating a mappable storage buffer', bad)).rejects.toBeInstanceOf(GpuValidationError);
      await expect(checked(ctx, 'x', bad)).rejects.toThrow(/^x: /);
      bad(); // outside any scope: goes to uncapturederror
      await ctx.device.queue.onSubmittedWorkDone();
      for (let i = 0; i < 50 && ctx.uncaptured.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(ctx.uncaptured[0]).toBeInstanceOf(GpuValidationError);
    } finally {
      ctx.destroy();
    }
  });
});
