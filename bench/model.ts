// The whole forward pass of random-llama-256-F32.gguf (2 layers, C 256, F 768,
// V 512) at T = 128: tokens/s, achieved GFLOP/s and peak GPU bytes (weights +
// activations + logits), next to the plain f32 matmul's GFLOP/s on the model's
// widest linear shape in the same run (`vs_baseline` = forward GFLOP/s ÷
// matmul GFLOP/s: how much of the matmul rate the composed forward keeps).
// Also one decode step (T = 1 against a KV cache of 128 positions), and the
// training step on random-llama-256-Q4_0.gguf (PEQA scales + LoRA rank 8 on all
// seven roles) and on the F32 file (LoRA only, the f32 baseline) at T = 128:
// forward (with loss) and forward+backward tokens/s, the step's achieved
// GFLOP/s ÷ the same-run matmul GFLOP/s, and the ledger's peak GPU bytes next
// to the planner's prediction.
// The fixture comes from $SUB4_FIXTURES or ../shared, as in the tests.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { GpuContext } from '../src/gpu/device.ts';
import { GpuTensor, ledgerOf } from '../src/gpu/buffers.ts';
import { matmul } from '../src/gpu/kernels/matmul.ts';
import { randomF32 } from '../src/gpu/random.ts';
import { timeGpu } from '../src/gpu/selftest.ts';
import { openModelPath } from '../src/io/model.node.ts';
import type { LlamaConfig } from '../src/arch/config.ts';
import { KvCache } from '../src/model/kv_cache.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { paramSpec } from '../src/arch/params.ts';
import { loadWeights } from '../src/model/weights.ts';
import { ModelBackward } from '../src/model/backward.ts';
import { createTrainable, type TrainConfig } from '../src/model/trainable.ts';
import { planStep, storageOf } from '../src/model/planner.ts';
import type { LoadedModel } from '../src/io/loaded_model.ts';

const REL = 'models/random-llama-256/random-llama-256-F32.gguf';

/** FLOPs of a forward over B sequences of T tokens at offset 0 (linear layers from the spec table, causal attention, LM head). */
export function forwardFlops(c: LlamaConfig, B: number, T: number, qOffset = 0): number {
  const N = B * T;
  let macs = 0;
  for (const p of paramSpec(c)) if (p.kind === 'linear') macs += p.shape[0] * p.shape[1];
  if (c.tieWordEmbeddings) macs += c.vocabSize * c.hiddenSize;
  let keys = 0; // visible keys summed over queries of one sequence
  for (let t = 0; t < T; t++) keys += c.slidingWindow ? Math.min(qOffset + t + 1, c.slidingWindow) : qOffset + t + 1;
  const attention = 2 * B * keys * c.numHeads * c.headDim * c.numLayers; // q·k and p·v
  return 2 * (N * macs + attention);
}

/**
 * Algorithmic FLOPs of one training step: the forward (with the LoRA products),
 * the LM head's input gradient, every linear layer's input gradient, the
 * trained gradients (PEQA: one product the size of W per layer; LoRA: dA, dB
 * and U = dY·B), and attention's backward at twice its forward (dq, dk, dv and
 * dP; the kernels' recomputation of P is not counted).
 */
export function stepFlops(m: LoadedModel, train: TrainConfig, B: number, T: number): number {
  const c = m.config;
  const N = B * T;
  const R = train.lora?.rank ?? 0;
  const lora = train.method !== 'peqa';
  const peqa = train.method !== 'lora';
  const fwd = forwardFlops(c, B, T);
  const attention = fwd - 2 * N * paramSpec(c).reduce((a, p) => a + (p.kind === 'linear' ? p.shape[0] * p.shape[1] : 0), c.tieWordEmbeddings ? c.vocabSize * c.hiddenSize : 0);
  let macs = c.vocabSize * c.hiddenSize * N; // LM head dX
  for (const p of paramSpec(c))
    if (p.kind === 'linear' && p.layer !== null) {
      const [O, I] = p.shape;
      macs += N * O * I; // dX
      if (peqa && storageOf(m)(p.name).kind === 'quant') macs += N * O * I; // dscale, doffset
      if (lora) macs += N * R * (I + O) + N * R * (2 * O + 2 * I); // forward X·Aᵀ, ·Bᵀ; backward U = dY·B, U·A, dA, dB
    }
  return fwd + 2 * macs + 2 * attention;
}

async function* trainStepBench(ctx: GpuContext, path: string, label: string, train: TrainConfig, T: number, mmGflops: number) {
  const file = await openModelPath(path);
  const ledger = ledgerOf(ctx);
  const live0 = ledger.live;
  ledger.resetPeak();
  const weights = await loadWeights(ctx, file);
  const model = new LlamaModel(ctx, weights);
  const tr = await createTrainable(model, file, train);
  const acts = model.activations(1, T, true);
  const bw = new ModelBackward(model, tr, 1, T);
  try {
    const c = model.config;
    const ids = Array.from({ length: T }, (_, i) => (i * 37 + 1) % c.vocabSize);
    const targets = ids.map((_, i) => (i === T - 1 ? 0xffffffff : ids[i + 1]));
    const mask = ids.map(() => 1);
    const lora = tr.lora;
    const forward = () => {
      tr.apply();
      model.forward(acts, ids, { lora });
      model.tokenLoss(acts, targets, mask, bw.chunk).destroy();
    };
    const step = () => bw.step(acts, ids, { targets, mask });
    const fms = await timeGpu(ctx, forward, 1000, 10);
    ledger.resetPeak(); // the step's own peak: the timed forwards' loss buffers are not part of it
    const sms = await timeGpu(ctx, step, 1500, 10);
    const method = `${train.method}${train.lora ? ` r${train.lora.rank}` : ''}`;
    const ff = forwardFlops(c, 1, T) + (train.method !== 'peqa' ? 2 * T * (train.lora?.rank ?? 0) * paramSpec(c).reduce((a, p) => a + (p.kind === 'linear' && p.layer !== null ? p.shape[0] + p.shape[1] : 0), 0) : 0);
    const row = (kernel: string, ms: number, flops: number) => ({
      bench: 'model', kernel, model: label, method, B: 1, T, ms: +ms.toFixed(1), tokens_per_s: +((T * 1000) / ms).toFixed(1),
      gflops: +(flops / (ms * 1e6)).toFixed(4), baseline: 'matmul_f32', vs_baseline: +(flops / (ms * 1e6) / mmGflops).toFixed(3),
    });
    yield row('train forward (loss)', fms, ff);
    const plan = planStep({ config: c, storage: storageOf(file), train, B: 1, T, optimizer: 'none', f16: ctx.features.f16 });
    yield { ...row('train forward+backward', sms, stepFlops(file, train, 1, T)), peak_gpu_bytes: ledger.peak - live0, planned_peak_bytes: plan.total, optimizer: 'none' };
  } finally {
    [bw, acts, tr, weights].forEach((x) => x.destroy());
    await file.close();
  }
}

export async function* modelBench(ctx: GpuContext) {
  const path = resolve(process.env.SUB4_FIXTURES ?? resolve(import.meta.dirname, '../../shared'), REL);
  if (!existsSync(path)) {
    yield { bench: 'model', skipped: `fixture ${REL} not found (set SUB4_FIXTURES)` };
    return;
  }
  const file = await openModelPath(path);
  const ledger = ledgerOf(ctx);
  const weights = await loadWeights(ctx, file);
  const model = new LlamaModel(ctx, weights);
  const c = model.config;
  const T = 128;
  try {
    // Baseline: the plain matmul on the widest linear shape of this model (gate/up: C → F).
    const x = GpuTensor.from(ctx, randomF32(T * c.hiddenSize, 1), [T, c.hiddenSize], 'f32');
    const w = GpuTensor.from(ctx, randomF32(c.intermediateSize * c.hiddenSize, 2), [c.intermediateSize, c.hiddenSize], 'f32');
    const y = GpuTensor.empty(ctx, [T, c.intermediateSize], 'f32');
    const mmMs = await timeGpu(ctx, () => matmul(ctx, y, x, w), 500, 20);
    const mmGflops = (2 * T * c.hiddenSize * c.intermediateSize) / (mmMs * 1e6);
    [x, w, y].forEach((t) => t.destroy());
    yield { bench: 'model', kernel: 'matmul_f32 (baseline)', T, I: c.hiddenSize, O: c.intermediateSize, ms: +mmMs.toFixed(2), gflops: +mmGflops.toFixed(4), vs_baseline: 1 };

    const ids = Array.from({ length: T }, (_, i) => (i * 37 + 1) % c.vocabSize);
    ledger.resetPeak();
    const acts = model.activations(1, T);
    const forward = () => {
      model.forward(acts, ids);
      model.logits(acts).destroy();
    };
    const ms = await timeGpu(ctx, forward, 1000, 10);
    const flops = forwardFlops(c, 1, T);
    const gflops = flops / (ms * 1e6);
    yield {
      bench: 'model', kernel: 'forward', model: 'random-llama-256-F32', B: 1, T, ms: +ms.toFixed(1), tokens_per_s: +((T * 1000) / ms).toFixed(1),
      gflops: +gflops.toFixed(4), baseline: 'matmul_f32', vs_baseline: +(gflops / mmGflops).toFixed(2),
      peak_gpu_bytes: ledger.peak, weight_bytes: weights.bytes, activation_bytes: acts.plan.bytes,
    };
    acts.destroy();

    // Decode: one token at position T against a cache holding T positions.
    const cache = new KvCache(ctx, c, 1, T + 1);
    const prefill = model.activations(1, T);
    model.forward(prefill, ids, { cache });
    prefill.destroy();
    const step = model.activations(1, 1);
    const decode = () => {
      cache.length = T; // the same step each run: rewrite position T
      model.forward(step, [ids[0]], { cache });
      model.logits(step).destroy();
    };
    const dms = await timeGpu(ctx, decode, 500, 20);
    yield { bench: 'model', kernel: 'decode step', model: 'random-llama-256-F32', position: T, ms: +dms.toFixed(2), tokens_per_s: +(1000 / dms).toFixed(1), gflops: +(forwardFlops(c, 1, 1, T) / (dms * 1e6)).toFixed(4), baseline: 'matmul_f32', vs_baseline: +(forwardFlops(c, 1, 1, T) / (dms * 1e6) / mmGflops).toFixed(3) };
    step.destroy();
    cache.destroy();
    weights.destroy();

    const dir = resolve(path, '..');
    const q4 = resolve(dir, 'random-llama-256-Q4_0.gguf');
    if (existsSync(q4)) yield* trainStepBench(ctx, q4, 'random-llama-256-Q4_0', { method: 'peqa+lora', lora: { rank: 8 } }, T, mmGflops);
    yield* trainStepBench(ctx, path, 'random-llama-256-F32', { method: 'lora', lora: { rank: 8 } }, T, mmGflops);
  } finally {
    weights.destroy();
    await file.close();
  }
}
