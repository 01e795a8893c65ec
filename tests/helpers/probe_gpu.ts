// Is there a WebGPU adapter for the Node tests? Run once by vitest.config.ts in
// a child process (so a crashing driver cannot take the test runner down);
// prints one JSON line {ok, reason}.
import { createNodeGpuContext } from '../../src/gpu/node.ts';

try {
  const ctx = await createNodeGpuContext();
  console.log(JSON.stringify({ ok: true, reason: `${ctx.adapter.vendor} ${ctx.adapter.architecture} (${ctx.driver.note})` }));
  ctx.destroy();
} catch (e) {
  console.log(JSON.stringify({ ok: false, reason: `${(e as Error).name}: ${(e as Error).message}` }));
}
