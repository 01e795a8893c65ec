// Vitest global setup: every temporary folder a test makes (mkdtempSync(join(tmpdir(), …)), the CLI's
// children, Chromium's profiles) lands under one per-run folder that vitest.config.ts points TMPDIR at,
// and this teardown removes it, so a run leaves nothing behind in the system's temporary folder.
import { rmSync } from 'node:fs';

export default function setup() {
  return () => {
    const dir = process.env.SUB4_TEST_TMP;
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
}
