// One Dawn device per test file. The context object keeps Dawn's create()
// result referenced (see src/gpu/node.ts), so it must stay in scope.
import { existsSync } from 'node:fs';
import { afterAll } from 'vitest';
import { chooseVulkanDriver, createNodeGpuContext, type NodeGpuContext } from '../../src/gpu/node.ts';

let ctx: Promise<NodeGpuContext> | undefined;
export function gpu(): Promise<NodeGpuContext> {
  if (!ctx) {
    ctx = createNodeGpuContext();
    afterAll(async () => (await ctx!).destroy());
  }
  return ctx;
}

/** mesa's lavapipe ICD as mesa ≥ 24 names it (mesa 22's lvp_icd.x86_64.json does not work with Dawn). */
export const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.json';

let f16ctx: Promise<NodeGpuContext | string> | undefined;
/**
 * A device that grants shader-f16, for the f16 kernels: mesa's lavapipe (CPU),
 * the one such adapter a machine without a GPU can have (SwiftShader has no
 * f16). Resolves to the reason when there is none; the caller skips with it,
 * or fails under SUB4_REQUIRE_FIXTURES=1 (CI installs mesa from bookworm-backports).
 */
export function f16Gpu(): Promise<NodeGpuContext | string> {
  if (!f16ctx) {
    afterAll(async () => {
      const c = await f16ctx;
      if (typeof c !== 'string') c?.destroy();
    });
    f16ctx = (async () => {
      if (!existsSync(LAVAPIPE_ICD)) return `no lavapipe ICD at ${LAVAPIPE_ICD} (Debian: mesa-vulkan-drivers ≥ 24, bookworm-backports on Debian 12)`;
      // Both drivers visible; Dawn picks lavapipe by name. Before any device is made in this process.
      const named = chooseVulkanDriver().icd;
      if (!named?.includes(LAVAPIPE_ICD)) process.env.VK_ICD_FILENAMES = [named, LAVAPIPE_ICD].filter(Boolean).join(':');
      process.env.XDG_RUNTIME_DIR ??= '/tmp'; // mesa's WSI complains without one; compute does not need it
      try {
        const c = await createNodeGpuContext({ adapter: 'llvmpipe' });
        return c.features.f16 ? c : `lavapipe (${c.adapter.description}) does not grant shader-f16`;
      } catch (e) {
        return `lavapipe gave no WebGPU device: ${(e as Error).message}`;
      }
    })();
  }
  return f16ctx;
}

/** f16Gpu() for a test: the device, or undefined after printing why the test is skipped (a failure under SUB4_REQUIRE_FIXTURES=1). */
export async function f16Device(): Promise<NodeGpuContext | undefined> {
  const c = await f16Gpu();
  if (typeof c !== 'string') return c;
  if (process.env.SUB4_REQUIRE_FIXTURES === '1') throw new Error(`no shader-f16 device: ${c}`);
  console.warn(`SKIP: no shader-f16 device (${c})`);
  return undefined;
}
