// Training learned codebooks through the whole model (TrainConfig.codebooks,
// src/model/codebook_train.ts): a small random Llama whose every linear is a
// learned codebook (random unsigned tables, one scale per row, as ReALLM
// builds them), LoRA beside it. The table and row-scale gradients of one
// training step against central finite differences of the model's own loss
// (f32, so a coarse step and a loose tolerance); the trained values written
// back into the state's codebook base; the memory planner against the
// allocations of a step; what cannot train refused, typed.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { paramSpec } from '../../src/arch/params.ts';
import { createTrainable, TrainConfigError } from '../../src/model/trainable.ts';
import { meanLoss, ModelBackward } from '../../src/model/backward.ts';
import { withGgufLayers } from '../../src/train/budget/overlay.ts';
import { decodeTrainedState, encodeTrainedState, type RunInfo } from '../../src/train/state.ts';
import type { VqTensor } from '../../src/quant/vq/vqtensor.ts';
import { randomVq } from '../helpers/vq_case.ts';
import { measureStep } from '../helpers/planner_case.ts';
import { storageOf } from '../../src/model/planner.ts';
import { base, synthetic, tokens } from './model_synthetic.ts';

const c = { ...base, intermediateSize: 48 }; // the codebook kernels need rows of a multiple of 4 weights

function learnedModel() {
  const m = synthetic(c, 5);
  const vq = new Map<string, VqTensor>();
  let seed = 1;
  for (const p of paramSpec(c)) {
    if (p.kind !== 'linear' || p.layer === null) continue;
    const q = randomVq({ O: p.shape[0], I: p.shape[1], dim: 4, bits: 4, signed: false, G: 'channel', learned: true }, seed++);
    q.offset.fill(0);
    q.scale.forEach((v, i) => (q.scale[i] = 0.1 * Math.abs(v)));
    vq.set(p.name, q);
  }
  return { m, vq, file: withGgufLayers(m, new Map(), vq) };
}

async function setup() {
  const ctx = await gpu();
  const { m, vq, file } = learnedModel();
  const weights = await loadWeights(ctx, file);
  const model = new LlamaModel(ctx, weights);
  const tr = await createTrainable(model, file, { method: 'lora', lora: { rank: 2, seed: 3 }, codebooks: true });
  const B = 2;
  const T = 6;
  const acts = model.activations(B, T, true);
  const bw = new ModelBackward(model, tr, B, T);
  const ids = tokens(B * T, c.vocabSize, 9);
  const targets = ids.map((_, i) => (i % T === T - 1 ? 0xffffffff : ids[i + 1]));
  const step = () => bw.step(acts, ids, { targets });
  return { m, file, vq, model, tr, step, done: () => [bw, acts, tr, weights].forEach((x) => x.destroy()) };
}

describe('codebook training (indices frozen) through the model', () => {
  it('table and row-scale gradients match finite differences of the loss', async () => {
    const r = await setup();
    const group = r.tr.groups().find((g) => g.name === 'codebooks')!;
    expect(group.weightDecay).toBe(0);
    expect(group.params.length).toBe(2 * 7 * c.numLayers);
    await meanLoss(r.step());
    for (const name of ['layers.0.q.codebook', 'layers.1.down.codebook', 'layers.0.gate.row_scale', 'layers.1.o.row_scale']) {
      const p = group.params.find((x) => x.name === name)!;
      const grad = await p.grad.read();
      const value = await p.param.read();
      // The two largest gradients of this tensor: the ones finite differences in f32 can resolve.
      const order = Array.from(grad.keys()).sort((a, b) => Math.abs(grad[b]) - Math.abs(grad[a])).slice(0, 2);
      for (const i of order) {
        const h = 1e-2 * Math.max(1, Math.abs(value[i]));
        const at = async (d: number) => {
          const v = value.slice();
          v[i] += d;
          p.param.write(v);
          return meanLoss(r.step());
        };
        const fd = ((await at(h)) - (await at(-h))) / (2 * h);
        p.param.write(value);
        console.log(`${name}[${i}]: gradient ${grad[i].toExponential(4)}, finite difference ${fd.toExponential(4)}`);
        expect(Math.abs(grad[i])).toBeGreaterThan(0);
        expect(Math.abs(fd - grad[i])).toBeLessThanOrEqual(2e-2 * Math.abs(grad[i]) + 1e-4);
      }
    }
    r.done();
  });

  it('the state keeps the trained tables and scales as its codebook base', async () => {
    const r = await setup();
    const p = r.tr.groups().find((g) => g.name === 'codebooks')!.params;
    const table = p.find((x) => x.name === 'layers.1.up.codebook')!;
    const scale = p.find((x) => x.name === 'layers.1.up.row_scale')!;
    const tv = (await table.param.read()).map((v) => v + 0.25);
    const sv = (await scale.param.read()).map((v) => v * 2);
    table.param.write(tv);
    scale.param.write(sv);
    const info: RunInfo = { method: 'reallm', quant: null, base: { path: 'x', name: 'x' }, data: { file: 'd', bytes: 1 }, seed: 0, steps: 1, batch: 1, seqLen: 6, lr: 1e-3, perplexity: { before: null, after: null }, losses: { first: null, last: null } };
    const s = await encodeTrainedState(r.tr, info, new Map(), new Map(), r.vq);
    expect(s.manifest.tensors.find((t) => t.name === 'layers.1.up.codebook')?.kind).toBe('codebook');
    expect(s.manifest.tensors.find((t) => t.name === 'layers.1.up.row_scale')?.kind).toBe('row-scale');
    const back = await decodeTrainedState(s.json, s.safetensors);
    const name = 'model.layers.1.mlp.up_proj.weight';
    const q = back.vqBase.get(name)!;
    expect(Array.from(q.codebook.values)).toEqual(Array.from(tv.subarray(0, q.codebook.values.length)));
    expect(Array.from(q.scale)).toEqual(Array.from(sv));
    expect(Array.from(q.codes)).toEqual(Array.from(r.vq.get(name)!.codes));
    // A layer whose table did not move keeps its base as it was.
    const other = 'model.layers.0.self_attn.q_proj.weight';
    expect(Array.from(back.vqBase.get(other)!.codebook.values)).toEqual(Array.from(r.vq.get(other)!.codebook.values));
    r.done();
  });

  it('with DoRA, the row norms follow the trained table and scales', async () => {
    const ctx = await gpu();
    const { file } = learnedModel();
    const weights = await loadWeights(ctx, file);
    const model = new LlamaModel(ctx, weights);
    const tr = await createTrainable(model, file, { method: 'lora', lora: { rank: 2, seed: 3, dora: true }, codebooks: true });
    const t = tr.layers[1].up!;
    const before = await t.dora!.wsq.read();
    const scale = tr.groups().find((g) => g.name === 'codebooks')!.params.find((x) => x.name === 'layers.1.up.row_scale')!;
    // Doubling every row scale doubles W: ‖W_o‖² ×4, and with B = 0 at the start n = ‖W_o‖.
    scale.param.write((await scale.param.read()).map((v) => 2 * v));
    tr.apply();
    const after = await t.dora!.wsq.read();
    const n = await t.dora!.n.read();
    let worst = 0;
    for (let o = 0; o < after.length; o++) worst = Math.max(worst, Math.abs(after[o] / (4 * before[o]) - 1), Math.abs(n[o] / Math.sqrt(after[o]) - 1));
    console.log(`DoRA beside trained codebooks: ‖W_o‖² after doubling the scales / (4 × before) − 1, n / ‖W_o‖ − 1: worst ${worst.toExponential(2)} over ${after.length} rows`);
    expect(worst).toBeLessThan(1e-5);
    tr.destroy();
    weights.destroy();
  });

  it('the planner counts what codebook training allocates (within 10 %, never under)', async () => {
    const ctx = await gpu();
    const { file } = learnedModel();
    const measure = (codebooks: boolean) => measureStep(ctx, { m: file, storage: storageOf(file), train: { method: 'lora', lora: { rank: 2 }, codebooks }, B: 2, T: 8, save: true });
    const without = await measure(false);
    const r = await measure(true);
    console.log(`codebook training: measured ${r.measured} B, planned ${r.planned} B (LoRA alone: ${without.measured} / ${without.planned})`);
    expect(r.planned - without.planned).toBeGreaterThan(0);
    expect(r.measured).toBeLessThanOrEqual(r.planned);
    expect(r.planned).toBeLessThanOrEqual(1.1 * r.measured);
  });

  it('refuses layers that are not learned codebooks, naming one', async () => {
    const ctx = await gpu();
    const m = synthetic(c, 6);
    const weights = await loadWeights(ctx, m);
    const model = new LlamaModel(ctx, weights);
    const err = createTrainable(model, m, { method: 'lora', lora: { rank: 2 }, codebooks: true });
    await expect(err).rejects.toThrow(TrainConfigError);
    await expect(err).rejects.toThrow(/model\.layers\.0\.self_attn\.q_proj\.weight is F32, not a learned codebook/);
    weights.destroy();
  });
});
