// `sub4 gpu`: which GPU sub4 sees, what it was granted, and a matmul self-test.
import type { Command } from './args.ts';
import { createNodeGpuContext } from '../gpu/node.ts';
import { matmulSelfTest } from '../gpu/selftest.ts';

export const gpuCommand: Command = {
  name: 'gpu',
  summary: 'show the WebGPU adapter, granted limits and features, and run the matmul self-test',
  usage: 'usage: sub4 gpu [--json]\n  --json   print one JSON object instead of text',
  options: { json: { type: 'boolean' } },
  async run(values) {
    const ctx = await createNodeGpuContext();
    if (!values.json) console.error(ctx.driver.note);
    try {
      const selftest = await matmulSelfTest(ctx);
      const out = { adapter: ctx.adapter, driver: ctx.driver, limits: ctx.limits, features: ctx.features, selftest };
      if (values.json) console.log(JSON.stringify(out, null, 2));
      else {
        const a = ctx.adapter;
        console.log(`adapter   ${a.vendor} ${a.architecture} — ${a.description}${a.isSoftware ? ' (software)' : ''}`);
        console.log(`features  shader-f16 ${ctx.features.f16 ? 'yes (the quantized forward runs in f16)' : 'no (every kernel runs in f32)'}, subgroups ${ctx.features.subgroups ? 'yes' : 'no'}`);
        for (const [k, v] of Object.entries(ctx.limits)) console.log(`limit     ${k.padEnd(36)} ${v.toLocaleString('en-US')}`);
        const s = selftest;
        console.log(
          `selftest  matmul ${s.shape.T}×${s.shape.I}·${s.shape.O}ᵀ (${s.variant}): max rel error ${s.maxRelError.toExponential(2)} ` +
            `${s.passed ? 'PASSED' : 'FAILED'}, ${s.gflops.toFixed(3)} GFLOP/s`,
        );
      }
      return selftest.passed ? 0 : 1;
    } finally {
      ctx.destroy();
    }
  },
};
