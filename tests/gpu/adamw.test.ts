// AdamW on the GPU (src/train/optimizer.ts over adamw_step.wgsl) against the f64
// reference over several steps, weight decay on/off and clipping active/inactive;
// the non-finite guard (rollback and skip, NaN/Inf gradient and NaN loss); bit-
// identical repeats; zeroGrads; refused configurations.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/close.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { adamwStep } from '../../src/gpu/kernels/adamw.ts';
import { AdamW, zeroGrads, type AdamWOptions } from '../../src/train/optimizer.ts';
import { type ParamGroup } from '../../src/model/trainable_param.ts';
import { adamwRefState, adamwStepRef, clipFactorRef, type AdamwRefState } from '../../src/ref/adamw.ts';
import { gradNormRef } from '../../src/ref/grad_norm.ts';

// Two groups, as a trainer builds them: LoRA factors with decay, quantization
// scales without; sizes cover one value, a partial workgroup and a folded grid.
const SIZES = { lora_a: 4099, lora_b: 37, scale: 1, scale2: 1000 };
const GROUPS = [['lora', ['lora_a', 'lora_b']], ['scales', ['scale', 'scale2']]] as const;
const STEPS = 5;
const HYPER = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

interface Setup {
  opt: AdamW;
  grads: Record<string, GpuTensor<'f32'>>;
  init: Record<string, Float32Array>;
  destroy(): void;
}

function setup(ctx: GpuContext, wd: number, opts: AdamWOptions): Setup {
  const init: Record<string, Float32Array> = {};
  const params: Record<string, GpuTensor<'f32'>> = {};
  const grads: Record<string, GpuTensor<'f32'>> = {};
  Object.entries(SIZES).forEach(([name, n], k) => {
    init[name] = randomF32(n, 100 + k);
    params[name] = GpuTensor.from(ctx, init[name], [n], 'f32', name);
    grads[name] = GpuTensor.empty(ctx, [n], 'f32', `${name}.grad`);
  });
  const groups: ParamGroup[] = GROUPS.map(([g, names]) => ({
    name: g,
    weightDecay: g === 'lora' ? wd : 0,
    params: names.map((name) => ({ name, param: params[name], grad: grads[name] })),
  }));
  const opt = new AdamW(ctx, groups, { ...HYPER, ...opts });
  return {
    opt,
    grads,
    init,
    destroy() {
      opt.destroy();
      [...Object.values(params), ...Object.values(grads)].forEach((t) => t.destroy());
    },
  };
}

/** Gradients of step k: per-tensor magnitudes differ so clipping and Adam's scale-freedom both matter. */
const gradOf = (name: string, k: number) => randomF32(SIZES[name as keyof typeof SIZES], 1000 * k + name.length).map((v) => v * (1 + name.length));

async function readState(opt: AdamW) {
  const out: Record<string, { param: Float32Array; m: Float32Array; v: Float32Array }> = {};
  for (const s of opt.slots) out[s.name] = { param: await s.param.read(), m: await s.m.read(), v: await s.v.read() };
  return out;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  const [x, y] = [new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length)];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

const LR = 1e-2;

describe('AdamW: GPU vs f64 reference', () => {
  for (const wd of [0, 0.1])
    for (const maxGradNorm of [Infinity, 0.5])
      it(`weight decay ${wd}, ${maxGradNorm === Infinity ? 'no clipping' : `clip at ${maxGradNorm}`}`, async () => {
        const ctx = await gpu();
        const su = setup(ctx, wd, { maxGradNorm, foldAt: 4 }); // lora_a: 17 workgroups folded to [4, 5]
        const ref: Record<string, AdamwRefState> = Object.fromEntries(Object.entries(su.init).map(([n, v]) => [n, adamwRefState(v)]));
        for (let k = 1; k <= STEPS; k++) {
          const g = Object.fromEntries(Object.keys(SIZES).map((n) => [n, gradOf(n, k)]));
          for (const n of Object.keys(SIZES)) su.grads[n].write(g[n]);
          const lr = LR * (1 - 0.1 * k); // a schedule: lr changes every step
          const r = await su.opt.step({ lr, loss: 1.5 });
          const norm = gradNormRef(Object.values(g)).norm;
          const clip = clipFactorRef(norm, maxGradNorm);
          expect(r.applied).toBe(true);
          expect(r.t).toBe(k);
          expect(Math.abs(r.gradNorm - norm) / norm).toBeLessThanOrEqual(1e-6);
          if (maxGradNorm === Infinity) expect(r.clipFactor).toBe(1);
          else expect(clip).toBeLessThan(0.5); // the clip is really active
          for (const [gname, names] of GROUPS)
            for (const n of names) adamwStepRef(ref[n], g[n], { lr, ...HYPER, weightDecay: gname === 'lora' ? wd : 0 }, k, clip);
        }
        const got = await readState(su.opt);
        for (const n of Object.keys(SIZES)) {
          expectClose(`${n} param`, got[n].param, ref[n].param, 1e-5);
          expectClose(`${n} m`, got[n].m, ref[n].m, 1e-5);
          expectClose(`${n} v`, got[n].v, ref[n].v, 1e-5);
          // The displacement from the start is what the optimizer computes; its
          // error includes one f32 rounding of the parameter per step.
          const moved = got[n].param.map((v, i) => v - su.init[n][i]);
          expectClose(`${n} param − init`, moved, ref[n].param.map((v, i) => v - su.init[n][i]), 1e-4);
        }
        if (wd > 0) {
          // Decay must be visible: the same run without it lands elsewhere.
          const noDecay = adamwRefState(su.init.lora_a);
          for (let k = 1; k <= STEPS; k++) {
            const g = Object.fromEntries(Object.keys(SIZES).map((n) => [n, gradOf(n, k)]));
            adamwStepRef(noDecay, g.lora_a, { lr: LR * (1 - 0.1 * k), ...HYPER, weightDecay: 0 }, k, clipFactorRef(gradNormRef(Object.values(g)).norm, maxGradNorm));
          }
          const diff = noDecay.param.reduce((s, v, i) => Math.max(s, Math.abs(v - ref.lora_a.param[i])), 0);
          expect(diff).toBeGreaterThan(1e-3);
        }
        su.destroy();
      });
});

describe('AdamW: non-finite guard', () => {
  /** Two good steps; returns the state the second one started from. */
  async function twoGoodSteps(su: Setup) {
    const good = async (k: number) => {
      for (const n of Object.keys(SIZES)) su.grads[n].write(gradOf(n, k));
      expect((await su.opt.step({ lr: LR })).applied).toBe(true);
    };
    await good(1);
    const before = await readState(su.opt);
    await good(2);
    return before;
  }

  it('rollback: a NaN gradient skips the step, restores the state before the last update, halves lr', async () => {
    const ctx = await gpu();
    const su = setup(ctx, 0.1, { maxGradNorm: 1 });
    const lastGood = await twoGoodSteps(su); // the state step 2 started from
    const g = gradOf('lora_b', 3);
    g[17] = NaN;
    su.grads.lora_b.write(g);
    const r = await su.opt.step({ lr: LR, loss: 2.5 });
    expect(r.applied).toBe(false);
    expect(r.event).toMatchObject({ type: 'bad-step', reason: 'non-finite-gradient', nonFiniteCount: 1, rolledBack: true, lrScaleBefore: 1, lrScale: 0.5, consecutive: 1 });
    expect(r.event!.message).toMatch(/1 gradient value is NaN or infinite; update skipped; parameters and optimizer state restored/);
    expect(r.t).toBe(1);
    expect(su.opt.lrScale).toBe(0.5);
    const now = await readState(su.opt);
    for (const n of Object.keys(SIZES)) for (const k of ['param', 'm', 'v'] as const) expect(sameBits(now[n][k], lastGood[n][k]), `${n}.${k}`).toBe(true);

    // A second bad step in a row has nothing further to roll back; lr halves again.
    const r2 = await su.opt.step({ lr: LR, loss: NaN });
    expect(r2.event).toMatchObject({ reason: 'non-finite-loss', rolledBack: false, lrScale: 0.25, consecutive: 2 });
    expect(r2.event!.message).toMatch(/the loss is NaN/);

    // The next good step continues from the restored state at t = 2 with lr × 0.25.
    const ref = Object.fromEntries(Object.keys(SIZES).map((n) => [n, { param: Float64Array.from(lastGood[n].param), m: Float64Array.from(lastGood[n].m), v: Float64Array.from(lastGood[n].v) }]));
    const grads = Object.fromEntries(Object.keys(SIZES).map((n) => [n, gradOf(n, 4)]));
    for (const n of Object.keys(SIZES)) su.grads[n].write(grads[n]);
    const r3 = await su.opt.step({ lr: LR });
    expect(r3).toMatchObject({ applied: true, t: 2, lr: LR * 0.25 });
    const clip = clipFactorRef(gradNormRef(Object.values(grads)).norm, 1);
    for (const [gname, names] of GROUPS) for (const n of names) adamwStepRef(ref[n], grads[n], { lr: LR * 0.25, ...HYPER, weightDecay: gname === 'lora' ? 0.1 : 0 }, 2, clip);
    const after = await readState(su.opt);
    for (const n of Object.keys(SIZES)) expectClose(`${n} after recovery`, after[n].param, ref[n].param, 1e-5);
    su.destroy();
  });

  it('skip: an infinite gradient leaves parameters and moments exactly as they were', async () => {
    const ctx = await gpu();
    const su = setup(ctx, 0, { onBadStep: 'skip', badStepLrFactor: 0.3 });
    await twoGoodSteps(su);
    const before = await readState(su.opt);
    const g = gradOf('scale2', 3);
    g[999] = -Infinity;
    su.grads.scale2.write(g);
    const r = await su.opt.step({ lr: LR });
    expect(r.event).toMatchObject({ reason: 'non-finite-gradient', rolledBack: false, lrScale: 0.3 });
    expect(r.t).toBe(2);
    const now = await readState(su.opt);
    for (const n of Object.keys(SIZES)) for (const k of ['param', 'm', 'v'] as const) expect(sameBits(now[n][k], before[n][k]), `${n}.${k}`).toBe(true);
    su.destroy();
  });

  it('an overflowing gradient norm is a bad step', async () => {
    const ctx = await gpu();
    const su = setup(ctx, 0, {});
    const g = new Float32Array(SIZES.scale).fill(3e19);
    su.grads.scale.write(g);
    const r = await su.opt.step({ lr: LR });
    expect(r.event).toMatchObject({ reason: 'gradient-norm-overflow', nonFiniteCount: 0, rolledBack: false });
    su.destroy();
  });
});

describe('AdamW: determinism, zeroGrads, refusals', () => {
  it('the same inputs give bit-identical parameters and moments', async () => {
    const ctx = await gpu();
    const runs = [];
    for (let rep = 0; rep < 2; rep++) {
      const su = setup(ctx, 0.1, { maxGradNorm: 0.5 });
      for (let k = 1; k <= 3; k++) {
        for (const n of Object.keys(SIZES)) su.grads[n].write(gradOf(n, k));
        await su.opt.step({ lr: LR });
      }
      runs.push(await readState(su.opt));
      su.destroy();
    }
    for (const n of Object.keys(SIZES)) for (const k of ['param', 'm', 'v'] as const) expect(sameBits(runs[0][n][k], runs[1][n][k]), `${n}.${k}`).toBe(true);
  });

  it('zeroGrads fills every gradient with 0', async () => {
    const ctx = await gpu();
    const su = setup(ctx, 0, {});
    for (const n of Object.keys(SIZES)) su.grads[n].write(gradOf(n, 1));
    su.opt.zeroGrads();
    for (const n of Object.keys(SIZES)) expect((await su.grads[n].read()).every((v) => Object.is(v, 0))).toBe(true);
    const t = GpuTensor.from(ctx, new Float32Array([1, NaN, 3]), [3], 'f32');
    zeroGrads(ctx, [t]);
    expect([...(await t.read())]).toEqual([0, 0, 0]);
    t.destroy();
    su.destroy();
  });

  it('refuses bad configurations with a RangeError naming the problem', async () => {
    const ctx = await gpu();
    const [a, b, c, d] = [3, 3, 4, 3].map((n) => GpuTensor.empty(ctx, [n], 'f32'));
    const group = (params: ParamGroup['params'], weightDecay = 0): ParamGroup[] => [{ name: 'g', weightDecay, params }];
    expect(() => new AdamW(ctx, group([{ name: 'x', param: a, grad: c }]))).toThrow(/grad \[4\] does not match param \[3\]/);
    expect(() => new AdamW(ctx, group([{ name: 'x', param: a, grad: b }, { name: 'x', param: c, grad: c }]))).toThrow(/name is used twice/);
    expect(() => new AdamW(ctx, group([{ name: 'x', param: a, grad: b }, { name: 'y', param: d, grad: b }]))).toThrow(/already another parameter/);
    expect(() => new AdamW(ctx, group([{ name: 'x', param: a, grad: b }], -1))).toThrow(/weight decay -1/);
    expect(() => new AdamW(ctx, group([]), { beta2: 1 })).toThrow(/beta2 1 is not in \[0, 1\)/);
    expect(() => new AdamW(ctx, group([]), { eps: 0 })).toThrow(/eps 0/);
    expect(() => new AdamW(ctx, group([]), { maxGradNorm: 0 })).toThrow(/maxGradNorm/);
    const opt = new AdamW(ctx, group([{ name: 'x', param: a, grad: b }]));
    await expect(opt.step({ lr: NaN })).rejects.toThrow(/lr NaN/);
    const pending = opt.step({ lr: 1e-3 });
    await expect(opt.step({ lr: 1e-3 })).rejects.toThrow(/previous step has not finished/);
    await pending;
    expect(() => adamwStep(ctx, { param: a, grad: a, m: b, v: c }, { lr: 1, ...HYPER, weightDecay: 0, t: 1, clip: 1 })).toThrow(/does not match|distinct/);
    opt.destroy();
    [a, b, c, d].forEach((t) => t.destroy());
  });
});
