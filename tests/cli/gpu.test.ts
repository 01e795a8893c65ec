// `sub4 gpu --json` end to end through the real bin entry, as a user runs it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;

describe('sub4 CLI', () => {
  it('prints help and lists gpu', async () => {
    const { stdout } = await run('node', [BIN, '--help']);
    expect(stdout).toMatch(/usage: sub4 <command>/);
    expect(stdout).toMatch(/\bgpu\b/);
  });

  it('gpu --json reports adapter, limits and a passing self-test', async () => {
    const { stdout } = await run('node', [BIN, 'gpu', '--json'], { timeout: 120_000 });
    const out = JSON.parse(stdout);
    expect(out.adapter.description || out.adapter.vendor).toBeTruthy();
    expect(out.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(out.selftest.maxRelError).toBeLessThanOrEqual(1e-4);
    expect(out.selftest.passed).toBe(true);
    expect(out.selftest.gflops).toBeGreaterThan(0);
  });

  it('exits 2 with a usage message for an unknown command', async () => {
    await expect(run('node', [BIN, 'frobnicate'])).rejects.toMatchObject({ code: 2 });
  });

  it('exits non-zero and names the problem when no adapter can be found', async () => {
    const err = await run('node', [BIN, 'gpu'], { env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json' } }).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/GpuUnavailableError: .*(no usable GPU adapter|does not exist)/);
  });
});
