// Every bits × group size × parametrization combination end to end on the GPU:
// θ → (scale, offset) → qlinear forward → backward into scale/offset → dθ,
// against the f64 reference chain (forward ≤ 1e-5, gradients ≤ 1e-4, relative
// to the largest magnitude).
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { normRelError } from '../../src/gpu/compare.ts';
import { qlinearBackward, qlinearForward } from '../../src/gpu/kernels/qlinear.ts';
import { qparamBackward, qparamForward, uploadParametrization } from '../../src/gpu/kernels/qparam.ts';
import { uploadQTensor } from '../../src/gpu/qtensor_gpu.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { parametrizationFor } from '../../src/quant/parametrize.ts';
import { QBITS, QGROUPS } from '../../src/quant/qtensor.ts';
import { quantizeRtn } from '../../src/quant/quantize/rtn.ts';
import { applyParametrizationRef, parametrizationBackwardRef } from '../../src/ref/parametrize.ts';
import { qlinearBackwardQuantRef, qlinearForwardRef } from '../../src/ref/qlinear.ts';

const T = 3;
const O = 6;
const I = 256;

describe('bits × group × parametrization', () => {
  for (const bits of QBITS)
    for (const G of [...QGROUPS, 'channel'] as const)
      for (const kind of ['scale', 'scale+offset'] as const)
        it(`${bits}-bit, group ${G}, ${kind}`, async () => {
          const ctx = await gpu();
          const q = quantizeRtn(randomF32(O * I, bits * 7 + (G === 'channel' ? 1 : G)), O, I, { bits, groupSize: G });
          const p = parametrizationFor(kind, q);
          // Move θ away from its start so the views are exercised, as after some training.
          const theta = p.theta.map((v, i) => v * (1 + 0.1 * Math.sin(i)));
          const gp = uploadParametrization(ctx, p);
          gp.theta.write(theta);
          const w = uploadQTensor(ctx, q);
          qparamForward(ctx, gp, w.scale, w.offset);
          const eff = applyParametrizationRef(p, theta);
          const xs = randomF32(T * I, 1);
          const dys = randomF32(T * O, 2);
          const x = GpuTensor.from(ctx, xs, [T, I], 'f32');
          const dy = GpuTensor.from(ctx, dys, [T, O], 'f32');
          const y = GpuTensor.empty(ctx, [T, O], 'f32');
          const ds = GpuTensor.empty(ctx, w.scale.shape, 'f32');
          const dm = GpuTensor.empty(ctx, w.offset.shape, 'f32');
          const dtheta = GpuTensor.empty(ctx, [theta.length], 'f32');
          qlinearForward(ctx, y, x, w);
          qlinearBackward(ctx, dy, x, w, { dscale: ds, doffset: dm });
          qparamBackward(ctx, gp, ds, dm, dtheta);
          expect(normRelError(await y.read(), qlinearForwardRef(xs, T, q, undefined, eff)), 'y').toBeLessThanOrEqual(1e-5);
          const g = qlinearBackwardQuantRef(xs, dys, T, q);
          expect(normRelError(await dtheta.read(), parametrizationBackwardRef(p, g.dscale, g.doffset)), 'dθ').toBeLessThanOrEqual(1e-4);
          [x, dy, y, ds, dm, dtheta].forEach((t) => t.destroy());
          w.destroy();
          gp.destroy();
        });
});
