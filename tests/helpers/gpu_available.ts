// Whether Node has a WebGPU adapter, asked once per process in a child process
// (tests/helpers/probe_gpu.ts), so a crashing driver cannot take the runner
// down. Used by vitest.config.ts to leave out GPU test files, and by test files
// that mix GPU and non-GPU cases.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const PROBE = fileURLToPath(new URL('./probe_gpu.ts', import.meta.url));
let cached: { ok: boolean; reason: string } | undefined;

export function probeGpu(): { ok: boolean; reason: string } {
  if (cached) return cached;
  try {
    const out = execFileSync(process.execPath, ['--import', 'tsx', PROBE], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'ignore'] });
    cached = JSON.parse(out.trim().split('\n').pop()!);
  } catch (e) {
    cached = { ok: false, reason: `the GPU probe failed: ${(e as Error).message.split('\n')[0]}` };
  }
  return cached!;
}

/** For a test that needs the GPU: true, or false with the reason printed (a failure under SUB4_REQUIRE_FIXTURES=1). */
export function gpuReady(): boolean {
  const { ok, reason } = probeGpu();
  if (!ok && process.env.SUB4_REQUIRE_FIXTURES === '1') throw new Error(`no WebGPU adapter (${reason}); SUB4_REQUIRE_FIXTURES=1 makes this a failure`);
  if (!ok) console.warn(`SKIP: no WebGPU adapter in Node (${reason})`);
  return ok;
}
