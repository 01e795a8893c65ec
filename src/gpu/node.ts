// Node entry to the GPU: the `webgpu` package (Dawn). Dawn's object from
// create() must outlive the device, or the process crashes when it is collected
// ("futex facility returned an unexpected error code", SIGSEGV), so it is
// stored in the context's keepAlive and in a module-level set until destroy().
import { existsSync } from 'node:fs';
import { createGpuContext, type GpuContext } from './device.ts';
import { nodeShaders } from './shaders.node.ts';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export interface VulkanDriverChoice {
  /** The ICD file Vulkan will load, or null when the system default is used. */
  icd: string | null;
  /** Plain words on where the choice came from, for logs and `sub4 gpu`. */
  note: string;
}

/**
 * When the environment names no Vulkan driver and Debian chromium's SwiftShader
 * ICD exists, use it: the machines this project is built on have no GPU, and
 * Debian 12's own lavapipe (mesa 22) lacks a Vulkan feature Dawn requires
 * (mesa 25's, from bookworm-backports, works and grants shader-f16: the f16
 * kernels' tests use it, tests/helpers/gpu.ts). Must run before `webgpu` is loaded.
 */
export function chooseVulkanDriver(env: NodeJS.ProcessEnv = process.env): VulkanDriverChoice {
  const named = env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES;
  if (named) return { icd: named, note: `Vulkan driver from the environment: ${named}` };
  if (existsSync(SWIFTSHADER_ICD)) {
    env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    return { icd: SWIFTSHADER_ICD, note: `no Vulkan driver named in the environment; using SwiftShader (software) from ${SWIFTSHADER_ICD}` };
  }
  return { icd: null, note: 'no Vulkan driver named in the environment and no SwiftShader ICD found; using the system default' };
}

const alive = new Set<unknown>();

export interface NodeGpuContext extends GpuContext {
  driver: VulkanDriverChoice;
}

export interface NodeGpuOptions {
  /**
   * Dawn's adapter choice by name (its `adapter=` option), e.g. "llvmpipe" when
   * VK_ICD_FILENAMES lists several drivers. Default: Dawn's first adapter.
   */
  adapter?: string;
  /** false keeps every kernel in f32 on an f16 device. Default: true unless SUB4_F16=0. */
  f16?: boolean;
}

export async function createNodeGpuContext(opts: NodeGpuOptions = {}): Promise<NodeGpuContext> {
  const driver = chooseVulkanDriver();
  let mod: typeof import('webgpu');
  try {
    mod = await import('webgpu');
  } catch (cause) {
    const { GpuUnavailableError } = await import('./errors.ts');
    throw new GpuUnavailableError(`The "webgpu" package (Dawn for Node) could not be loaded: ${String(cause)}. Run "npm install".`, { cause });
  }
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create(opts.adapter ? [`adapter=${opts.adapter}`] : []);
  alive.add(gpu);
  const hint =
    driver.icd === null
      ? `No Vulkan driver was found. Install a GPU driver with Vulkan support, or Debian's "chromium" package for SwiftShader (${SWIFTSHADER_ICD}), and the Vulkan loader "libvulkan1".`
      : existsSync(driver.icd.split(':')[0])
        ? `Vulkan driver: ${driver.icd}. Check that the Vulkan loader (libvulkan.so.1, Debian package "libvulkan1") is installed and that the driver works.`
        : `The Vulkan driver named in the environment does not exist: ${driver.icd}. Unset VK_ICD_FILENAMES or point it at an existing ICD json.`;
  const ctx = await createGpuContext({ gpu, shaders: nodeShaders(), keepAlive: gpu, missingHint: hint, f16: opts.f16 ?? process.env.SUB4_F16 !== '0' });
  const destroy = ctx.destroy;
  return {
    ...ctx,
    driver,
    destroy: () => {
      destroy();
      // Keep Dawn's object a little longer: destroy() finishes asynchronously.
      setTimeout(() => alive.delete(gpu), 100).unref?.();
    },
  };
}
