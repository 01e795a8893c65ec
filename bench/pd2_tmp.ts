// Debug aid (not a suite): the live buffers at the ledger's peak of one training step, by label, beside the plan.
import { createNodeGpuContext } from '../src/gpu/node.ts';
import { GpuTensor, ledgerOf } from '../src/gpu/buffers.ts';
import { openModelPath } from '../src/io/model.node.ts';
import { loadWeights } from '../src/model/weights.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { createTrainable, type TrainConfig } from '../src/model/trainable.ts';
import { ModelBackward } from '../src/model/backward.ts';
import { planStep, storageOf } from '../src/model/planner.ts';

const [path, method, Ts, rank] = process.argv.slice(2);
const T = Number(Ts);
const ctx = await createNodeGpuContext();
const live = new Map<GpuTensor, [string, number]>();
let snap: [string, number][] = [];
let peak = 0;
const origEmpty = GpuTensor.empty;
(GpuTensor as unknown as { empty: typeof GpuTensor.empty }).empty = function (c, shape, dtype, label = 'tensor') {
  const t = origEmpty.call(GpuTensor, c, shape, dtype, label);
  live.set(t as GpuTensor, [label, (t as unknown as { byteSize: number }).byteSize]);
  const l = ledgerOf(ctx);
  if (l.live > peak) {
    peak = l.live;
    snap = [...live.values()];
  }
  const d = t.destroy.bind(t);
  t.destroy = () => {
    live.delete(t as GpuTensor);
    d();
  };
  return t;
} as typeof GpuTensor.empty;
const train: TrainConfig = method === 'lora' ? { method: 'lora', lora: { rank: Number(rank ?? 8) } } : method === 'peqa' ? { method: 'peqa' } : { method: 'peqa+lora', lora: { rank: Number(rank ?? 8) } };
import { synthetic, base } from '../tests/gpu/model_synthetic.ts';
import { modelFacts } from '../src/model/facts.ts';
import { AdamW } from '../src/train/optimizer.ts';
const file = synthetic({ ...base, vocabSize: 49152, hiddenSize: 64, intermediateSize: 128, numHeads: 4, numKvHeads: 2, headDim: 16, tieWordEmbeddings: true, maxPositions: 512 }, 3);
console.log('card lora', modelFacts(file).trainingMemory.lora.total);
const plan = planStep({ config: file.config, storage: storageOf(file), train, B: 1, T, f16: ctx.features.f16 });
const weights = await loadWeights(ctx, file);
const model = new LlamaModel(ctx, weights);
const tr = await createTrainable(model, file, train);
const acts = model.activations(1, T, true);
const bw = new ModelBackward(model, tr, 1, T);
const ids = Array.from({ length: T }, (_, i) => (i * 37 + 1) % file.config.vocabSize);
const targets = ids.map((_, i) => (i === T - 1 ? 0xffffffff : ids[i + 1]));
const opt = new AdamW(ctx, tr.groups());
peak = 0;
bw.step(acts, ids, { targets });
await opt.step({ lr: 1e-3 });
await ctx.device.queue.onSubmittedWorkDone();
const agg = new Map<string, number>();
for (const [l, b] of snap) {
  const k = l.replace(/\d+/g, '#');
  agg.set(k, (agg.get(k) ?? 0) + b);
}
console.log('measured', peak, 'planned', plan.total, JSON.stringify(plan.parts));
for (const [k, b] of [...agg].sort((a, b) => b[1] - a[1])) console.log(b, k);
ctx.destroy();
