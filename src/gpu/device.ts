// GPU context: one adapter + device with the adapter's own limits, the optional
// features sub4 can use, and typed loss / error reporting. The same code runs in
// the browser (navigator.gpu) and in Node (the `webgpu` package); the caller
// passes the GPU object, so this file imports nothing platform-specific.
import { GpuDeviceLostError, GpuUnavailableError, fromGpuError } from './errors.ts';
import { type Sub4Error } from '../base/errors.ts';
import type { ShaderLoader } from './shaders.ts';

/** Limits sub4 raises from the spec defaults to what the adapter supports. */
export const REQUESTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
  'maxBindGroups',
] as const;
export type LimitName = (typeof REQUESTED_LIMITS)[number];

/** Optional features sub4 uses where granted; every kernel has a path without them. */
export const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for CPU emulators (SwiftShader, WARP, llvmpipe): kernel choice depends on it. */
  isSoftware: boolean;
}

export interface GpuContext {
  readonly device: GPUDevice;
  readonly adapter: AdapterSummary;
  readonly limits: Record<LimitName, number>;
  readonly features: { f16: boolean; subgroups: boolean; timestampQuery: boolean };
  readonly shaders: ShaderLoader;
  /** Resolves with a typed error when the device is lost; never rejects. */
  readonly lost: Promise<GpuDeviceLostError>;
  /** Errors reported through `uncapturederror`, newest last (bounded). */
  readonly uncaptured: Sub4Error[];
  /** Whatever must stay referenced while the device lives (Node: the `create()` object). */
  readonly keepAlive: unknown;
  destroy(): void;
}

export interface CreateContextOptions {
  gpu: GPU | undefined;
  shaders: ShaderLoader;
  keepAlive?: unknown;
  /** Human text naming what is needed when no adapter exists (platform-specific hint). */
  missingHint?: string;
  powerPreference?: GPUPowerPreference;
  /** false: do not ask for shader-f16 even where granted, so every kernel runs its f32 path. */
  f16?: boolean;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|warp|software|cpu/i;

export async function createGpuContext(opts: CreateContextOptions): Promise<GpuContext> {
  const hint = opts.missingHint ?? 'Use a browser with WebGPU enabled (Chrome/Edge 113+, or Firefox/Safari with WebGPU on).';
  if (!opts.gpu) throw new GpuUnavailableError(`WebGPU is not available in this environment. ${hint}`);
  const adapter = await opts.gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) throw new GpuUnavailableError(`WebGPU found no usable GPU adapter. ${hint}`);

  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && (f !== 'shader-f16' || opts.f16 !== false)) as GPUFeatureName[];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (cause) {
    throw new GpuUnavailableError(`The GPU adapter refused to create a device: ${String(cause)}`, { cause });
  }

  const limits = {} as Record<LimitName, number>;
  for (const name of REQUESTED_LIMITS) limits[name] = (device.limits as unknown as Record<string, number>)[name];
  const info = adapter.info;
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  const summary: AdapterSummary = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isSoftware: SOFTWARE.test(text) || (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true,
  };

  const uncaptured: Sub4Error[] = [];
  device.addEventListener('uncapturederror', (ev) => {
    const err = fromGpuError((ev as GPUUncapturedErrorEvent).error, 'uncaptured GPU error');
    uncaptured.push(err);
    if (uncaptured.length > 32) uncaptured.shift();
  });
  const lost = device.lost.then(
    (i) => new GpuDeviceLostError(`The GPU device was lost (${i.reason}): ${i.message || 'no message'}. Reload to start a new device.`, i.reason),
  );

  return {
    device,
    adapter: summary,
    limits,
    features: {
      f16: device.features.has('shader-f16'),
      subgroups: device.features.has('subgroups'),
      timestampQuery: device.features.has('timestamp-query'),
    },
    shaders: opts.shaders,
    lost,
    uncaptured,
    keepAlive: opts.keepAlive,
    destroy: () => device.destroy(),
  };
}

/** Run `fn` inside validation + OOM error scopes and throw a typed error if either fires. */
export async function checked<T>(ctx: GpuContext, what: string, fn: () => T): Promise<T> {
  const d = ctx.device;
  d.pushErrorScope('out-of-memory');
  d.pushErrorScope('validation');
  const out = fn();
  const validation = await d.popErrorScope();
  const oom = await d.popErrorScope();
  if (oom) throw fromGpuError(oom, what);
  if (validation) throw fromGpuError(validation, what);
  return out;
}
