// `npm run bench`: one JSON line per case on the device sub4 finds (SwiftShader
// here). Every figure is compared with a baseline measured in the same run
// (`vs_baseline` = this / baseline), because absolute numbers on an emulator
// say little; compare ratios, not seconds, across machines.
import { createNodeGpuContext } from '../src/gpu/node.ts';
import { matmulBench } from './matmul.ts';
import { qlinearBench } from './qlinear.ts';
import { modelBench } from './model.ts';
import { loadBench } from './load.ts';
import { vqAssignBench } from './vq_assign.ts';
import { doraBench } from './dora.ts';
import { quantizeBench } from './quantize.ts';

const filter = process.argv[2];
const ctx = await createNodeGpuContext();
const device = { adapter: `${ctx.adapter.vendor} ${ctx.adapter.architecture} ${ctx.adapter.description}`.trim(), software: ctx.adapter.isSoftware, f16: ctx.features.f16 };
console.log(JSON.stringify({ bench: 'device', ...device, driver: ctx.driver.icd }));
try {
  // The load suite writes ~700 MB models and runs for minutes, the quantize suite opens Chromium and runs every CPU
  // quantizer four ways: only when asked for by name.
  const suites = [matmulBench, qlinearBench, modelBench, vqAssignBench, doraBench, quantizeBench, loadBench];
  for (const suite of suites) {
    if (filter ? !suite.name.includes(filter) : suite === loadBench || suite === quantizeBench) continue;
    for await (const line of suite(ctx)) console.log(JSON.stringify(line));
  }
} finally {
  ctx.destroy();
}
