// `npm run bench -- load [--layers N] [--mix Q4_K_M,Q4_0,BF16,F16] [--forward 0|1|2] [--compare] [--train] [--eval] [--keep DIR]`:
// file → ready on the GPU for a model of TinyLlama-1.1B's shape written once by
// sub4's own writer (bench/load_model.ts: GGUF; bench/load_folder.ts: a Hugging
// Face folder of BF16 or F16 safetensors, mixes 'BF16' and 'F16') to a temporary folder. Per mix:
//  - baseline: reading the same file from disk in 16 MiB slices (the reader
//    sub4 uses, same run, so the page cache is as warm for both): MB/s;
//  - load: openModel + loadWeights until the queue is idle ('gpu queue': the wait for the
//    conversion kernels at the end) — with --compare, once with every block decoded on
//    the CPU and once converted by the kernels, else the default for the adapter: seconds, MB/s,
//    `vs_baseline` = load MB/s ÷ disk MB/s, the phase split (read, decode,
//    repack, upload, read+dequant: float tensors read and converted in one
//    step), and peak host memory (RSS sampled after every tensor, minus the
//    RSS before; on a software adapter the "GPU" buffers live in host memory
//    too, so `gpu_bytes` — the ledger's — is given beside it and
//    `host_bytes_excl_gpu` is the difference; RSS does not shrink back between
//    runs, so only a process's first load measures it: one mix per run for it);
//  - gpu upload floor: the load's GPU bytes created and written from one reused
//    array (no file, no decode): what the adapter alone costs, as file MB/s;
//  - cpu_s: the load's CPU seconds over all threads, steadier than wall time
//    on a shared machine;
//  - the first forward (T = 64; its time includes building the pipelines) and,
//    with --forward 2, a second one (the same forward with every pipeline cached);
//  - BF16/F16 only, 'quantizer inputs': every linear layer's f32 weights read
//    the way the in-tab quantizers get them (originalWeightsInTurn, as
//    quantizeModelLinears reads them; no quantizing), as file MB/s.
// With --eval (GGUF mixes): `sub4 eval` on the file against llama.cpp's perplexity (bench/load_eval.ts).
// With --train (Q4_K_M only): one PEQA step and one LoRA step (rank 8, B 1,
// T 64, no optimizer) with the ledger's peak beside the planner's prediction.
// Never part of the tests: it writes ~700 MB per mix and runs for minutes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GpuContext } from '../src/gpu/device.ts';
import { ledgerOf } from '../src/gpu/buffers.ts';
import { fileSource } from '../src/io/source.node.ts';
import { openModelPath } from '../src/io/model.node.ts';
import { loadWeights } from '../src/model/weights.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { PhaseClock } from '../src/base/phase_clock.ts';
import { createTrainable, type TrainConfig } from '../src/model/trainable.ts';
import { ModelBackward } from '../src/model/backward.ts';
import { planStep, storageOf } from '../src/model/planner.ts';
import { writeLoadModel, type LoadMix } from './load_model.ts';
import { evalVsLlamaCpp } from './load_eval.ts';
import { writeLoadFolder, type FloatMix } from './load_folder.ts';
import { originalWeightsInTurn } from '../src/train/quantize_model.ts';
import { paramSpec } from '../src/arch/params.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : (process.argv[i + 1] ?? '');
};
const MB = 1e6;
const round = (x: number, d = 2) => +x.toFixed(d);

async function diskRead(path: string): Promise<number> {
  const src = await fileSource(path);
  const t0 = performance.now();
  const slice = 16 << 20;
  for (let o = 0; o < src.size; o += slice) await src.read(o, Math.min(slice, src.size - o));
  const s = (performance.now() - t0) / 1000;
  await src.close?.();
  return s;
}

/**
 * The adapter's share of any load: buffers of `bytes` in all (16 MiB each, the
 * size of a large weight's codes) created and filled by writeBuffer from one
 * reused host array, until the queue is idle. On a software adapter the buffers
 * are host memory touched for the first time here, and Dawn stages each write:
 * a bound no decoder can beat, measured in the same run.
 */
async function uploadFloor(ctx: GpuContext, bytes: number): Promise<{ s: number; cpuS: number }> {
  const chunk = 16 << 20;
  const src = new Uint32Array(chunk / 4).fill(0x01020304);
  const bufs: GPUBuffer[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let done = 0; done < bytes; done += chunk) {
    const n = Math.min(chunk, bytes - done) & ~3;
    const b = ctx.device.createBuffer({ size: Math.max(4, n), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    ctx.device.queue.writeBuffer(b, 0, src, 0, n / 4);
    bufs.push(b);
  }
  await ctx.device.queue.onSubmittedWorkDone();
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  for (const b of bufs) b.destroy();
  return { s, cpuS: (cpu.user + cpu.system) / 1e6 };
}

async function forwardMs(ctx: GpuContext, model: LlamaModel, T: number): Promise<number> {
  const acts = model.activations(1, T);
  const ids = Array.from({ length: T }, (_, i) => (i * 37 + 1) % model.config.vocabSize);
  const t0 = performance.now();
  model.forward(acts, ids);
  const logits = model.logits(acts, T - 1, 1);
  const v = await logits.read();
  const ms = performance.now() - t0;
  logits.destroy();
  acts.destroy();
  if (!v.every(Number.isFinite)) throw new Error('load bench: the forward gave non-finite logits');
  return ms;
}

async function* trainSteps(ctx: GpuContext, path: string, T: number) {
  const ledger = ledgerOf(ctx);
  const cases: TrainConfig[] = [{ method: 'peqa' }, { method: 'lora', lora: { rank: 8 } }];
  for (const train of cases) {
    const file = await openModelPath(path);
    const live0 = ledger.live;
    ledger.resetPeak();
    const plan = planStep({ config: file.config, storage: storageOf(file), train, B: 1, T, optimizer: 'none', f16: ctx.features.f16 });
    const weights = await loadWeights(ctx, file);
    const model = new LlamaModel(ctx, weights);
    const tr = await createTrainable(model, file, train);
    const acts = model.activations(1, T, true);
    const bw = new ModelBackward(model, tr, 1, T);
    try {
      const ids = Array.from({ length: T }, (_, i) => (i * 37 + 1) % file.config.vocabSize);
      const targets = ids.map((_, i) => (i === T - 1 ? 0xffffffff : ids[i + 1]));
      const t0 = performance.now();
      bw.step(acts, ids, { targets });
      await ctx.device.queue.onSubmittedWorkDone();
      const measured = ledger.peak - live0;
      yield {
        bench: 'load', kernel: 'train step', method: train.method, B: 1, T, s: round((performance.now() - t0) / 1000, 1),
        peak_gpu_bytes: measured, planned_peak_bytes: plan.total, planned_vs_measured: round(plan.total / measured, 4),
        upper_bound_ok: measured <= plan.total && plan.total <= 1.1 * measured,
      };
    } finally {
      [bw, acts, tr, weights].forEach((x) => x.destroy());
      await file.close();
    }
  }
}

/** Every linear layer's f32 weights, one at a time, as the in-tab quantizers read them (no quantizing). */
async function quantizerInputs(path: string, mix: string, diskRate: number) {
  const file = await openModelPath(path);
  try {
    const linears = paramSpec(file.config).filter((p) => p.kind === 'linear' && p.layer !== null).map((p) => file.tensors.get(p.name)!);
    const bytes = linears.reduce((a, t) => a + t.bytes, 0);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for await (const _ of originalWeightsInTurn(file, linears, 'bench'));
    const s = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return { bench: 'load', kernel: 'quantizer inputs', mix, tensors: linears.length, file_bytes: bytes, s: round(s), mb_per_s: round(bytes / MB / s, 1), vs_baseline: round(bytes / MB / s / diskRate, 3), cpu_s: round((cpu.user + cpu.system) / 1e6) };
  } finally {
    await file.close();
  }
}

export async function* loadBench(ctx: GpuContext) {
  const layers = Number(arg('layers') ?? 22);
  const mixes = (arg('mix') ?? 'Q4_K_M,Q4_0').split(',') as (LoadMix | FloatMix)[];
  const keep = arg('keep');
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'sub4-load-'));
  const T = 64;
  try {
    for (const mix of mixes) {
      const float = mix === 'BF16' || mix === 'F16';
      // A float mix is a Hugging Face folder: the load opens the folder, the disk baseline reads its one weight file.
      const path = join(dir, `tinyllama-shape-${layers}L-${mix}${float ? '' : '.gguf'}`);
      const tw = performance.now();
      const size = float ? await writeLoadFolder(path, mix, layers) : await writeLoadModel(path, mix, layers);
      yield { bench: 'load', kernel: 'write (setup)', mix, layers, file_bytes: size, s: round((performance.now() - tw) / 1000, 1) };
      const diskS = await diskRead(float ? join(path, 'model.safetensors') : path);
      const diskRate = size / MB / diskS;
      yield { bench: 'load', kernel: 'disk read (baseline)', mix, s: round(diskS, 3), mb_per_s: round(diskRate, 1), vs_baseline: 1 };

      // --compare: the CPU decoder, then the GPU conversion kernels, one after the other; else the default path.
      const paths: (boolean | undefined)[] = arg('compare') !== undefined && !float ? [false, true] : [undefined];
      for (const gpuConvert of paths) {
        const ledger = ledgerOf(ctx);
        const live0 = ledger.live;
        global.gc?.();
        const rss0 = process.memoryUsage().rss;
        let rssPeak = rss0;
        const clock = new PhaseClock();
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        const file = await openModelPath(path);
        const tOpen = performance.now() - t0;
        const weights = await loadWeights(ctx, file, {
          clock,
          gpuConvert,
          onBytes: () => {
            rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
          },
        });
        const tq = performance.now();
        await ctx.device.queue.onSubmittedWorkDone();
        clock.add('gpu queue', performance.now() - tq);
        const loadS = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
        const gpuBytes = ledger.live - live0;
        const model = new LlamaModel(ctx, weights);
        // --forward 0 skips the forwards (minutes at this size on a software adapter), 2 adds one with cached pipelines.
        const forwards = gpuConvert !== false ? Number(arg('forward') ?? 1) : 0;
        const first = forwards >= 1 ? await forwardMs(ctx, model, T) : NaN;
        const second = forwards >= 2 ? await forwardMs(ctx, model, T) : NaN;
        const host = rssPeak - rss0 - (ctx.adapter.isSoftware ? gpuBytes : 0);
        yield {
          bench: 'load', kernel: 'file → ready', path: gpuConvert === undefined ? 'default' : gpuConvert ? 'gpu convert' : 'cpu decode', mix, layers, file_bytes: size, s: round(loadS, 2), mb_per_s: round(size / MB / loadS, 1),
          baseline: 'disk read', vs_baseline: round(size / MB / loadS / diskRate, 3),
          // CPU seconds of every thread of the process (main, file reads, the software adapter's): the work, whatever the machine's load.
          cpu_s: { user: round(cpu.user / 1e6), system: round(cpu.system / 1e6) },
          phases_s: { open: round(tOpen / 1000), ...Object.fromEntries(Object.entries(clock.ms).map(([k, v]) => [k, round(v / 1000)])) },
          peak_rss_growth_bytes: rssPeak - rss0, gpu_bytes: gpuBytes, host_bytes_excl_gpu: host, host_vs_file: round(host / size, 3),
          first_forward_s: forwards >= 1 ? round(first / 1000) : null, second_forward_s: forwards >= 2 ? round(second / 1000) : null, T,
        };
        weights.destroy();
        await file.close();
        if (gpuConvert === paths[paths.length - 1]) {
          // After the load's buffers are freed, so the allocator may hand their pages back: a floor, not the load's own cost.
          const floor = await uploadFloor(ctx, gpuBytes);
          yield { bench: 'load', kernel: 'gpu upload floor (baseline)', mix, gpu_bytes: gpuBytes, s: round(floor.s, 2), cpu_s: round(floor.cpuS), file_mb_per_s: round(size / MB / floor.s, 1), vs_disk: round(size / MB / floor.s / diskRate, 3) };
        }
      }
      if (float) yield await quantizerInputs(path, mix, diskRate);
      if (arg('train') !== undefined && mix === 'Q4_K_M') yield* trainSteps(ctx, path, T);
      if (arg('eval') !== undefined && !float) yield* evalVsLlamaCpp(path, mix);
      if (!keep) rmSync(path, { recursive: true, force: true });
    }
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}
