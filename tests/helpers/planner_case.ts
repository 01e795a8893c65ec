// One training step measured against the memory planner: load (optionally with
// layers sub4 quantized and an LQ-LoRA start), trainable state, AdamW with
// rollback, activations, a forward + loss + backward and the optimizer step.
// Returns the ledger's peak over all of it and the plan for the same settings.
import { ledgerOf } from '../../src/gpu/buffers.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import type { LoadedModel } from '../../src/io/loaded_model.ts';
import { ModelBackward } from '../../src/model/backward.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { planStep, type LinearStorage } from '../../src/model/planner.ts';
import { createTrainable, type TrainConfig } from '../../src/model/trainable.ts';
import { loadWeights } from '../../src/model/weights.ts';
import type { QTensor } from '../../src/quant/qtensor.ts';
import { AdamW } from '../../src/train/optimizer.ts';
import { applyLoraStart, type LoraStart } from '../../src/train/setup.ts';

export interface StepCase {
  m: LoadedModel;
  storage: (name: string) => LinearStorage;
  train: TrainConfig;
  B: number;
  T: number;
  save: true | 'inputs';
  quantized?: Map<string, QTensor>;
  factors?: LoraStart | null;
}

export async function measureStep(ctx: GpuContext, s: StepCase): Promise<{ measured: number; planned: number; parts: Record<string, number> }> {
  const ledger = ledgerOf(ctx);
  const live0 = ledger.live;
  ledger.resetPeak();
  const plan = planStep({ config: s.m.config, storage: s.storage, train: s.train, B: s.B, T: s.T, save: s.save, f16: ctx.features.f16 });
  const weights = await loadWeights(ctx, s.m, { quantized: s.quantized });
  const owned: { destroy(): void }[] = [weights];
  try {
    const model = new LlamaModel(ctx, weights);
    const tr = await createTrainable(model, s.m, s.train);
    owned.push(tr);
    if (s.factors) applyLoraStart(tr, s.factors);
    const opt = new AdamW(ctx, tr.groups());
    owned.push(opt);
    const acts = model.activations(s.B, s.T, s.save);
    owned.push(acts);
    const bw = new ModelBackward(model, tr, s.B, s.T);
    owned.push(bw);
    const ids = Array.from({ length: s.B * s.T }, (_, i) => (i * 37 + 1) % s.m.config.vocabSize);
    bw.step(acts, ids, { targets: ids.map((_, i) => (i % s.T === s.T - 1 ? 0xffffffff : ids[i + 1])) });
    const r = await opt.step({ lr: 1e-3 });
    if (!r.applied || !Number.isFinite(r.gradNorm)) throw new Error(`planner case: the step was not applied (grad norm ${r.gradNorm})`);
    return { measured: ledger.peak - live0, planned: plan.total, parts: plan.parts };
  } finally {
    for (const o of owned.reverse()) o.destroy();
  }
}

/** "measured ≤ planned ≤ 1.1 × measured", with the figures printed either way. */
export function boundLine(label: string, measured: number, planned: number): string {
  return `planner | ${label} | measured ${measured} | planned ${planned} | ${((100 * (planned - measured)) / measured).toFixed(2)} %`;
}
