// One quantized-linear forward case, run on the GPU the way the forward tests
// need it: a random weight quantized by RTN, random X (both optionally scaled),
// optional LoRA, codes optionally split into parts of 3 rows, Y prefilled with
// NaN so an unwritten output fails. Shared by tests/gpu/qlinear_forward.test.ts
// (f32) and tests/gpu/qlinear_forward_f16.test.ts.
import { expect } from 'vitest';
import type { GpuContext } from '../../src/gpu/device.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { qlinearForward, type QLinearOptions } from '../../src/gpu/kernels/qlinear.ts';
import { uploadQTensor } from '../../src/gpu/qtensor_gpu.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import type { QBits, QTensor } from '../../src/quant/qtensor.ts';
import { quantizeRtn } from '../../src/quant/quantize/rtn.ts';
import type { LoraRef } from '../../src/ref/qlinear.ts';

export interface QLinearCase {
  T: number;
  I: number;
  O: number;
  bits: QBits;
  G: number | 'channel';
  R?: number;
  /** Multiplies W (tiny or large layers) and X. */
  wMul?: number;
  xMul?: number;
  /** Codes split into parts of 3 rows (as tests/gpu/qlinear_split.test.ts). */
  split?: boolean;
}

export function caseName(c: QLinearCase): string {
  return `T=${c.T} I=${c.I} O=${c.O} bits=${c.bits} G=${c.G}${c.R ? ` LoRA r=${c.R}` : ''}${c.wMul ? ` |W|×${c.wMul}` : ''}${c.xMul ? ` |X|×${c.xMul}` : ''}${c.split ? ' split' : ''}`;
}

/** qlinearForward on the case; its inputs come back for the reference. */
export async function runForwardCase(ctx: GpuContext, c: QLinearCase, opts: QLinearOptions = {}): Promise<{ got: Float32Array; xs: Float32Array; q: QTensor; lora?: LoraRef }> {
  const wf = randomF32(c.O * c.I, c.I * 31 + c.O).map((v) => v * (c.wMul ?? 1));
  const q = quantizeRtn(wf, c.O, c.I, { bits: c.bits, groupSize: c.G });
  const xs = randomF32(c.T * c.I, c.T + 5).map((v) => v * (c.xMul ?? 1));
  const lora = c.R ? { a: randomF32(c.R * c.I, 11), b: randomF32(c.O * c.R, 12), rank: c.R, scale: 2 / c.R } : undefined;
  const wq = uploadQTensor(ctx, q, 'w', c.split ? { maxBindingBytes: Math.ceil(c.I / 32) * c.bits * 4 * 3 + 4 } : {});
  if (c.split) expect(wq.codeParts.length).toBe(Math.ceil(c.O / 3));
  const x = GpuTensor.from(ctx, xs, [c.T, c.I], 'f32');
  const y = GpuTensor.from(ctx, new Float32Array(c.T * c.O).fill(NaN), [c.T, c.O], 'f32');
  const gl = lora && { a: GpuTensor.from(ctx, lora.a, [c.R!, c.I], 'f32'), b: GpuTensor.from(ctx, lora.b, [c.O, c.R!], 'f32'), scale: lora.scale };
  try {
    qlinearForward(ctx, y, x, wq, gl, opts);
    return { got: await y.read(), xs, q, lora };
  } finally {
    [x, y, gl?.a, gl?.b].forEach((t) => t?.destroy());
    wq.destroy();
  }
}
