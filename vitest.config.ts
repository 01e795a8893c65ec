import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';
import { probeGpu } from './tests/helpers/gpu_available.ts';

// Two projects: `node` (unit + GPU tests on Dawn/SwiftShader) and `browser`
// (builds the app and drives Debian's Chromium with playwright-core).
// GPU tests share one device per file; files run one at a time because
// SwiftShader already uses every core.

// Tests that need a WebGPU adapter in Node. Without one they are skipped with
// the reason printed, unless SUB4_REQUIRE_FIXTURES=1 (CI), where they run and fail.
const GPU_TESTS = ['tests/gpu/**/*.test.ts', 'tests/cli/gpu.test.ts'];

const require = process.env.SUB4_REQUIRE_FIXTURES === '1';
const gpu = require ? { ok: true, reason: 'required' } : probeGpu();
if (!gpu.ok) console.warn(`SKIP: no WebGPU adapter in Node (${gpu.reason}); GPU tests skipped: ${GPU_TESTS.join(', ')}`);

// One temporary folder per run: tests and the processes they start inherit TMPDIR (os.tmpdir() reads it), and
// tests/helpers/tmp_setup.ts removes the folder when the run ends.
if (!process.env.SUB4_TEST_TMP) {
  process.env.SUB4_TEST_TMP = mkdtempSync(join(tmpdir(), 'sub4-tests-'));
  process.env.TMPDIR = process.env.SUB4_TEST_TMP;
}

export default defineConfig({
  test: {
    globalSetup: ['tests/helpers/tmp_setup.ts'],
    projects: [
      {
        test: {
          name: 'node',
          include: ['tests/unit/**/*.test.ts', 'tests/gpu/**/*.test.ts', 'tests/fuzz/**/*.test.ts', 'tests/cli/**/*.test.ts'],
          exclude: gpu.ok ? [] : GPU_TESTS,
          environment: 'node',
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['tests/e2e/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
