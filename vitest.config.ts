import { defineConfig } from 'vitest/config';

// Two projects: `node` (unit + GPU tests on Dawn/SwiftShader) and `browser`
// (builds the app and drives Debian's Chromium with playwright-core).
// GPU tests share one device per file; files run one at a time because
// SwiftShader already uses every core.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          include: ['tests/unit/**/*.test.ts', 'tests/gpu/**/*.test.ts', 'tests/fuzz/**/*.test.ts', 'tests/cli/**/*.test.ts'],
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
