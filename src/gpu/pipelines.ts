// Compute pipelines, built once per (shader, entry point, override constants)
// with explicit bind group layouts. Explicit layouts let one bind group layout
// be checked against the kernel wrapper's binding list, and avoid 'auto' layouts
// silently dropping bindings the shader does not use.
import { GpuLimitError } from './errors.ts';
import type { GpuContext } from './device.ts';

export type BindingKind = 'uniform' | 'read' | 'storage';

export interface KernelDef {
  /** File name in shaders/ without `.wgsl`. */
  shader: string;
  entryPoint?: string;
  /** Bindings of group 0, in binding-index order. */
  bindings: readonly BindingKind[];
  /** WGSL `override` constants (workgroup sizes, tile shapes). */
  constants?: Record<string, number>;
}

interface Built {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

const caches = new WeakMap<GPUDevice, Map<string, Built>>();

function keyOf(def: KernelDef): string {
  const c = def.constants ? Object.entries(def.constants).sort().map(([k, v]) => `${k}=${v}`).join(',') : '';
  return `${def.shader}#${def.entryPoint ?? 'main'}#${c}`;
}

export function getPipeline(ctx: GpuContext, def: KernelDef): Built {
  let cache = caches.get(ctx.device);
  if (!cache) caches.set(ctx.device, (cache = new Map()));
  const key = keyOf(def);
  let built = cache.get(key);
  if (built) return built;
  const layout = ctx.device.createBindGroupLayout({
    label: def.shader,
    entries: def.bindings.map((kind, binding) => ({
      binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: kind === 'uniform' ? 'uniform' : kind === 'read' ? 'read-only-storage' : 'storage' },
    })),
  });
  const module = ctx.device.createShaderModule({ label: def.shader, code: ctx.shaders.load(def.shader) });
  const pipeline = ctx.device.createComputePipeline({
    label: def.shader,
    layout: ctx.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: def.entryPoint ?? 'main', constants: def.constants },
  });
  built = { pipeline, layout };
  cache.set(key, built);
  return built;
}

export interface DispatchArgs {
  /** Packed uniform struct, bound at the first 'uniform' binding. */
  uniform?: ArrayBuffer;
  /** Buffers for the non-uniform bindings, in order. */
  buffers: GPUBuffer[];
  workgroups: [number, number?, number?];
  /** Encode into this encoder instead of submitting at once. */
  encoder?: GPUCommandEncoder;
}

/** Encode one dispatch; submits at once unless an encoder is given. */
export function dispatch(ctx: GpuContext, def: KernelDef, args: DispatchArgs): void {
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  for (const n of args.workgroups)
    if (n !== undefined && n > max)
      throw new GpuLimitError(`${def.shader}: ${n} workgroups in one dimension exceeds this GPU's ${max}`, 'maxComputeWorkgroupsPerDimension', n, max);
  const { pipeline, layout } = getPipeline(ctx, def);
  let uniformBuf: GPUBuffer | undefined;
  const entries: GPUBindGroupEntry[] = [];
  let next = 0;
  def.bindings.forEach((kind, binding) => {
    if (kind === 'uniform') {
      if (!args.uniform) throw new Error(`${def.shader}: binding ${binding} needs a uniform struct`);
      uniformBuf = ctx.device.createBuffer({ size: args.uniform.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      ctx.device.queue.writeBuffer(uniformBuf, 0, args.uniform);
      entries.push({ binding, resource: { buffer: uniformBuf } });
    } else {
      const b = args.buffers[next++];
      if (!b) throw new Error(`${def.shader}: missing buffer for binding ${binding}`);
      entries.push({ binding, resource: { buffer: b } });
    }
  });
  if (next !== args.buffers.length) throw new Error(`${def.shader}: ${args.buffers.length} buffers given, ${next} bound`);
  const bindGroup = ctx.device.createBindGroup({ layout, entries });
  const enc = args.encoder ?? ctx.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  const [x, y = 1, z = 1] = args.workgroups;
  pass.dispatchWorkgroups(x, y, z);
  pass.end();
  if (uniformBuf) afterSubmit(enc, () => uniformBuf!.destroy());
  if (!args.encoder) submit(ctx, enc);
}

const transients = new WeakMap<GPUCommandEncoder, (() => void)[]>();

/**
 * Run `fn` (typically: destroy a temporary buffer the recorded commands use)
 * once `enc` has been submitted through submit() below.
 */
export function afterSubmit(enc: GPUCommandEncoder, fn: () => void): void {
  let list = transients.get(enc);
  if (!list) transients.set(enc, (list = []));
  list.push(fn);
}

/**
 * Submit an encoder filled by `dispatch`, then run its afterSubmit callbacks
 * (free per-dispatch uniforms and temporaries). Destroying after submit is
 * valid: WebGPU keeps a buffer's memory until the submitted work that uses it
 * completes. Encoders must be submitted here, not with queue.submit directly.
 */
export function submit(ctx: GpuContext, enc: GPUCommandEncoder): void {
  ctx.device.queue.submit([enc.finish()]);
  const list = transients.get(enc) ?? [];
  transients.delete(enc);
  for (const fn of list) fn();
}
