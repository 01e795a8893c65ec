// `npm run bench`: one JSON line per case on the device sub4 finds (SwiftShader
// here). Every figure is compared with a baseline measured in the same run
// (`vs_baseline` = this / baseline), because absolute numbers on an emulator
// say little; compare ratios, not seconds, across machines.
import { spawnSync } from 'node:child_process';
import { createNodeGpuContext } from '../src/gpu/node.ts';
import { matmulBench } from './matmul.ts';
import { qlinearBench } from './qlinear.ts';
import { modelBench } from './model.ts';
import { loadBench } from './load.ts';
import { vqAssignBench } from './vq_assign.ts';
import { doraBench } from './dora.ts';
import { vqTableBench } from './vq_table.ts';
import { quantizeBench } from './quantize.ts';
import { tabLoadBench } from './tab_load.ts';

// The `sub4` command starts with glibc's huge-page tunable (bin/sub4.js's shebang says why); the bench runs
// under the same setting so that it measures what the command gets. `--malloc default` measures without it.
const HUGE = 'glibc.malloc.hugetlb=1';
const mallocDefault = process.argv.includes('--malloc') && process.argv[process.argv.indexOf('--malloc') + 1] === 'default';
if (process.platform === 'linux' && !mallocDefault && !(process.env.GLIBC_TUNABLES ?? '').includes(HUGE)) {
  const tunables = [HUGE, process.env.GLIBC_TUNABLES].filter(Boolean).join(':');
  const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, GLIBC_TUNABLES: tunables } });
  process.exit(r.status ?? 1);
}
const malloc = (process.env.GLIBC_TUNABLES ?? '').includes(HUGE) ? 'huge pages' : 'default';

// A suite by its name in any spelling: `vq_assign`, `vqAssign`, `vq_table` (the functions are vqAssignBench, vqTableBench).
const filter = process.argv[2]?.replace(/_/g, '').toLowerCase();
const ctx = await createNodeGpuContext();
const device = { adapter: `${ctx.adapter.vendor} ${ctx.adapter.architecture} ${ctx.adapter.description}`.trim(), software: ctx.adapter.isSoftware, f16: ctx.features.f16 };
console.log(JSON.stringify({ bench: 'device', ...device, driver: ctx.driver.icd, malloc }));
try {
  // The load suites write ~700 MB models and run for minutes (tab_load in Chromium), the quantize suite opens Chromium
  // and runs every CPU quantizer four ways: only when asked for by name.
  const suites = [matmulBench, qlinearBench, modelBench, vqAssignBench, vqTableBench, doraBench, quantizeBench, loadBench, tabLoadBench];
  const onDemand: unknown[] = [loadBench, quantizeBench, tabLoadBench];
  for (const suite of suites) {
    // By the start of the name, so `load` is not also `tab_load`.
    if (filter ? !suite.name.toLowerCase().startsWith(filter) : onDemand.includes(suite)) continue;
    for await (const line of suite(ctx)) console.log(JSON.stringify(line));
  }
} finally {
  ctx.destroy();
}
