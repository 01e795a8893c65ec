// The whole-model backward on the GPU (src/model/backward.ts) against the f64
// reference of the training step (src/ref/llama_backward.ts) on small random
// models: PEQA scale+offset with LoRA and trained norms on legacy types, PEQA
// 'scale' on symmetric types with Qwen2 biases and a tied head, K-quant
// super-block d/dmin with a quantized LM head, LoRA on a dense f32 Mistral
// (sliding window, biases), PEQA + LoRA through Qwen3's per-head q/k norms
// (head_dim ≠ hidden/heads) with recomputation, LoRA across SmolLM3's NoPE
// layer, PEQA + LoRA + norm weights through Gemma 3's block. Every trained gradient is compared (≤ 1e-3 of the
// tensor's largest reference magnitude) and a sample of parameters is checked
// against central finite differences of the reference loss. Then: integer codes
// and embeddings are bit-identical after a step, recomputation gives the same
// gradients bit for bit, accumulation adds micro-batches, and configuration
// errors are typed.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/close.ts';
import type { LoadedModel } from '../../src/io/loaded_model.ts';
import { randomF32, rng } from '../../src/gpu/random.ts';
import { validateConfig, type LlamaConfig } from '../../src/arch/config.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { readQuantLinear } from '../../src/model/linear.ts';
import { normName, paramSpec, type LinearRole } from '../../src/arch/params.ts';
import { createTrainable, TrainConfigError, type TrainConfig, type Trainable } from '../../src/model/trainable.ts';
import { meanLoss, ModelBackward } from '../../src/model/backward.ts';
import { GgmlType } from '../../src/quant/formats.ts';
import { isQuantGgmlType } from '../../src/quant/gguf_qtensor.ts';
import type { QTensor } from '../../src/quant/qtensor.ts';
import { applyParametrizationRef, parametrizationBackwardRef } from '../../src/ref/parametrize.ts';
import { dequantRef, llamaBackwardRef, llamaLossRef, quantGradsRef, type RefBatch, type RefModel } from '../../src/ref/llama_backward.ts';
import type { LoraRef } from '../../src/ref/qlinear.ts';
import { base, gemmaTest, synthetic, tokens, type Types } from './model_synthetic.ts';

const TOL = 1e-3;
const print = (s: string) => process.env.SUB4_PRINT_ERRORS && console.log(s);

/** Next-token targets per sequence (the last row of each ignored) and a mask with one row off. */
function batchOf(c: LlamaConfig, B: number, T: number, seed: number): RefBatch {
  const ids = tokens(B * T, c.vocabSize, seed);
  const targets = ids.map((_, i) => (i % T === T - 1 ? 0xffffffff : ids[i + 1]));
  const mask = ids.map((_, i) => (i === 1 ? 0 : 1));
  return { ids, targets, mask, B, T };
}

interface Linear {
  name: string;
  layer: number;
  role: LinearRole;
  q: QTensor | null;
  dense: Float32Array | null;
  bias?: Float32Array;
  /** f64 θ (PEQA layers), perturbed by finite differences. */
  theta?: Float64Array;
  lora?: LoraRef;
}

/** The reference model of the trainable state as it is on the GPU (θ, LoRA factors). */
async function refModel(m: LoadedModel, tr: Trainable): Promise<{ ref: RefModel; linears: Map<string, Linear>; norms: Map<string, Float32Array> }> {
  const c = m.config;
  const tensors = new Map<string, Float32Array>();
  const linears = new Map<string, Linear>();
  for (const p of paramSpec(c)) {
    const t = m.tensors.get(p.name)!;
    if (p.kind !== 'linear' || p.layer === null) {
      tensors.set(p.name, await t.readF32());
      continue;
    }
    const role = p.role as LinearRole;
    const train = tr.layers[p.layer][role];
    const quant = t.ggmlType !== null && isQuantGgmlType(t.ggmlType);
    const L: Linear = { name: p.name, layer: p.layer, role, q: quant ? (await readQuantLinear(t, t.ggmlType as never)).q : null, dense: quant ? null : await t.readF32() };
    if (train?.peqa) L.theta = Float64Array.from(await train.peqa.gpu.theta.read());
    if (train?.lora) {
      const { a, b, scale } = train.lora.lora;
      L.lora = { a: Float64Array.from(await a.read()), b: Float64Array.from(await b.read()), rank: a.shape[0], scale };
    }
    linears.set(p.name, L);
  }
  for (const p of paramSpec(c)) if (p.kind === 'bias') linears.get(p.name.replace(/\.bias$/, '.weight'))!.bias = tensors.get(p.name);
  const ref: RefModel = {
    config: c,
    tensor: (name) => tensors.get(name)!,
    linear(name) {
      const L = linears.get(name)!;
      const p = tr.layers[L.layer][L.role]?.peqa?.p;
      let w: ArrayLike<number> = L.dense!;
      if (L.q && p && L.theta) {
        const { scale, offset } = applyParametrizationRef(p, L.theta);
        w = dequantRef(L.q, scale, offset);
      } else if (L.q) w = dequantRef(L.q);
      return { w, bias: L.bias, lora: L.lora };
    },
  };
  return { ref, linears, norms: tensors };
}

interface Run {
  model: LlamaModel;
  tr: Trainable;
  bw: ModelBackward;
  m: LoadedModel;
  batch: RefBatch;
  done(): void;
}

async function setup(c: LlamaConfig, types: Types, cfg: TrainConfig, B: number, T: number, recompute = false, seed = 21): Promise<Run & { acts: ReturnType<LlamaModel['activations']> }> {
  const ctx = await gpu();
  const m = synthetic(c, seed, types);
  const weights = await loadWeights(ctx, m);
  const model = new LlamaModel(ctx, weights);
  const tr = await createTrainable(model, m, cfg);
  // B = 0 (PEFT's init) would make every dA zero: give the adapters a random B to test the whole chain.
  let s = 100;
  for (const roles of tr.layers) for (const t of Object.values(roles)) if (t.lora) t.lora.lora.b.write(randomF32(t.lora.lora.b.size, s++).map((v) => 0.3 * v));
  const acts = model.activations(B, T, recompute ? 'inputs' : true);
  const bw = new ModelBackward(model, tr, B, T, { chunk: 5 });
  return { model, tr, bw, m, acts, batch: batchOf(c, B, T, seed + 1), done: () => [bw, acts, tr, weights].forEach((x) => x.destroy()) };
}

/** Every trained gradient of one step: GPU vs the f64 reference, plus finite differences on a sample. */
async function checkStep(name: string, r: Awaited<ReturnType<typeof setup>>, fdPerKind = 3) {
  const { tr, bw, m, batch, acts } = r;
  const step = bw.step(acts, batch.ids, { targets: batch.targets, mask: batch.mask });
  const loss = await meanLoss(step);
  const { ref, linears } = await refModel(m, tr);
  const want = llamaBackwardRef(ref, batch);
  expect(step.count).toBe(want.count);
  expect(Math.abs(loss - want.loss) / want.loss, `${name}: loss ${loss} vs ${want.loss}`).toBeLessThan(1e-5);

  // (parameter, f64 handle to perturb, GPU gradient, reference gradient)
  const samples: { label: string; arr: Float64Array; gpu: Float32Array; ref: Float64Array }[] = [];
  let worst = 0;
  for (const L of linears.values()) {
    const t = tr.layers[L.layer][L.role];
    if (t?.peqa) {
      const { dscale, doffset } = quantGradsRef(want.dW.get(L.name)!, L.q!);
      const refG = parametrizationBackwardRef(t.peqa.p, dscale, doffset);
      const got = await t.peqa.grad.read();
      worst = Math.max(worst, expectClose(`${name} ${L.name} dθ (${t.peqa.p.kind})`, got, refG, TOL));
      samples.push({ label: `${L.name} θ`, arr: L.theta!, gpu: got, ref: refG });
    }
    if (t?.lora) {
      const d = want.dLora.get(L.name)!;
      const da = await t.lora.da.read();
      const db = await t.lora.db.read();
      worst = Math.max(worst, expectClose(`${name} ${L.name} dA`, da, d.da, TOL), expectClose(`${name} ${L.name} dB`, db, d.db, TOL));
      samples.push({ label: `${L.name} A`, arr: L.lora!.a as Float64Array, gpu: da, ref: d.da }, { label: `${L.name} B`, arr: L.lora!.b as Float64Array, gpu: db, ref: d.db });
    }
  }
  if (tr.normGrads) {
    const g = tr.normGrads;
    const pairs: [string, typeof g.final][] = [['model.norm.weight', g.final]];
    g.attn.forEach((t, l) => pairs.push([`model.layers.${l}.input_layernorm.weight`, t], [`model.layers.${l}.${normName(m.config, 'mlp_norm')}`, g.mlp[l]]));
    for (const [n, t] of pairs) worst = Math.max(worst, expectClose(`${name} ${n} dw`, await t.read(), want.dNorm.get(n)!, TOL));
  }
  print(`${name}: worst gradient error ${worst.toExponential(2)} of the largest reference magnitude`);

  // Central differences of the f64 loss, on a seeded sample of entries of a few tensors (and each one's largest entry).
  const pick = rng(7);
  let fdWorst = 0;
  const kinds = new Map<string, typeof samples>();
  for (const s of samples) kinds.set(s.label.split(' ').pop()!, [...(kinds.get(s.label.split(' ').pop()!) ?? []), s]);
  for (const list of kinds.values())
    for (const s of list.slice(0, fdPerKind)) {
      const scale = s.ref.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
      let big = 0;
      s.ref.forEach((v, i) => Math.abs(v) > Math.abs(s.ref[big]) && (big = i));
      for (const j of [big, Math.floor(pick() * s.arr.length)]) {
        const x0 = s.arr[j];
        const h = 1e-5 * Math.max(Math.abs(x0), 1e-2);
        s.arr[j] = x0 + h;
        const lp = llamaLossRef(ref, batch);
        s.arr[j] = x0 - h;
        const lm = llamaLossRef(ref, batch);
        s.arr[j] = x0;
        const fd = (lp - lm) / (2 * h);
        const eRef = Math.abs(fd - s.ref[j]) / scale;
        const eGpu = Math.abs(fd - s.gpu[j]) / scale;
        fdWorst = Math.max(fdWorst, eGpu);
        expect(eRef, `${name} ${s.label}[${j}]: finite difference ${fd} vs reference ${s.ref[j]}`).toBeLessThan(1e-6);
        expect(eGpu, `${name} ${s.label}[${j}]: finite difference ${fd} vs GPU ${s.gpu[j]}`).toBeLessThan(TOL);
      }
    }
  print(`${name}: finite differences vs GPU, worst ${fdWorst.toExponential(2)} of the tensor's largest gradient`);
}

const qcfg = validateConfig({ ...base, intermediateSize: 64 }, 'legacy');
const kcfg = validateConfig({ ...base, hiddenSize: 256, intermediateSize: 256, numHeads: 4, numKvHeads: 2, headDim: 64, numLayers: 1, vocabSize: 40 }, 'kquant');
const LEGACY: Types = { q: GgmlType.Q4_1, k: GgmlType.Q5_1, v: GgmlType.Q4_0, o: GgmlType.Q8_0, gate: GgmlType.Q5_0, up: GgmlType.Q4_1, down: GgmlType.Q5_1 };
const SYM: Types = { q: GgmlType.Q4_0, k: GgmlType.Q8_0, v: GgmlType.Q5_0, o: GgmlType.Q4_0, gate: GgmlType.Q5_0, up: GgmlType.Q8_0, down: GgmlType.Q4_0 };
const KQ: Types = { q: GgmlType.Q4_K, k: GgmlType.Q2_K, v: GgmlType.Q5_K, o: GgmlType.Q3_K, gate: GgmlType.Q6_K, up: GgmlType.Q4_K, down: GgmlType.Q5_K, lm_head: GgmlType.Q6_K };

describe('model backward: GPU vs f64 reference and finite differences', () => {
  it('PEQA scale+offset + LoRA + norm weights on legacy types, B=2 T=5', async () => {
    const r = await setup(qcfg, LEGACY, { method: 'peqa+lora', peqa: 'scale+offset', lora: { rank: 4, alpha: 8, seed: 3 }, norms: true }, 2, 5);
    await checkStep('peqa+lora', r, 2);
    r.done();
  });

  it("PEQA 'scale' on symmetric types, Qwen2 q/k/v biases, tied head, B=1 T=9", async () => {
    const c = validateConfig({ ...qcfg, architecture: 'qwen2', qkvBias: true, tieWordEmbeddings: true }, 'qwen2');
    const r = await setup(c, SYM, { method: 'peqa', peqa: 'scale' }, 1, 9);
    await checkStep('peqa scale', r);
    r.done();
  });

  it('K-quant super-block d / dmin, quantized LM head (frozen), B=1 T=6', async () => {
    const r = await setup(kcfg, KQ, { method: 'peqa', peqa: 'gguf-superblock' }, 1, 6);
    for (const t of Object.values(r.tr.layers[0])) expect(t.peqa!.p.kind).toBe('gguf-superblock');
    await checkStep('superblock', r);
    r.done();
  });

  it('LoRA on a dense f32 Mistral (sliding window 3, o/mlp biases) with recomputation, B=2 T=6', async () => {
    const c = validateConfig({ ...base, architecture: 'mistral', slidingWindow: 3, oBias: true, mlpBias: true }, 'mistral');
    const r = await setup(c, {}, { method: 'lora', lora: { rank: 3, alpha: 6, targets: ['q', 'v', 'o', 'gate', 'up', 'down'] } }, 2, 6, true);
    expect(r.tr.layers[0].k).toBeUndefined();
    await checkStep('lora dense recompute', r);
    r.done();
  });
});

describe('model backward: the newer families', () => {
  it('PEQA + LoRA on Qwen3 (per-head q/k norms, head_dim 16 ≠ hidden/heads 8) with recomputation, B=2 T=5', async () => {
    const c = validateConfig({ ...qcfg, architecture: 'qwen3', qkNorm: true, headDim: 16 }, 'qwen3');
    const r = await setup(c, LEGACY, { method: 'peqa+lora', lora: { rank: 3, alpha: 6, seed: 4 } }, 2, 5, true);
    await checkStep('qwen3 peqa+lora recompute', r, 2);
    r.done();
  });

  it('PEQA + LoRA + norm weights on Gemma 3 (four norms, GeGLU, scaled embeddings, sliding/global), with and without recomputation, B=2 T=5', async () => {
    const c = validateConfig({ ...gemmaTest, intermediateSize: 64 }, 'gemma3');
    for (const recompute of [false, true]) {
      const r = await setup(c, LEGACY, { method: 'peqa+lora', lora: { rank: 2, alpha: 4, seed: 6 }, norms: true }, 2, 5, recompute);
      await checkStep(`gemma3 peqa+lora${recompute ? ' recompute' : ''}`, r, 2);
      r.done();
    }
  });

  it('Gemma 3 with a quantized token table (Q5_0): scaled lookup, dX through the quantized tied head, B=2 T=5', async () => {
    const c = validateConfig({ ...gemmaTest, intermediateSize: 64 }, 'gemma3');
    const r = await setup(c, { ...LEGACY, embed: GgmlType.Q5_0 }, { method: 'peqa+lora', lora: { rank: 2, alpha: 4, seed: 7 } }, 2, 5);
    expect(r.model.weights.lmHead.kind).toBe('quant');
    await checkStep('gemma3 quantized table', r, 2);
    r.done();
  });

  it('LoRA on every role of SmolLM3 (NoPE layer 1), B=1 T=7', async () => {
    const c = validateConfig({ ...qcfg, architecture: 'smollm3', noRopeLayers: [1] }, 'smollm3');
    const r = await setup(c, {}, { method: 'lora', lora: { rank: 2, alpha: 4, seed: 5 } }, 1, 7);
    await checkStep('smollm3 lora', r, 2);
    r.done();
  });
});

describe('model backward: what must not change, recomputation, accumulation, errors', () => {
  it('integer codes and embeddings stay bit-identical; recomputation equals saved activations bit for bit', async () => {
    const cfg: TrainConfig = { method: 'peqa+lora', lora: { rank: 2 }, norms: true };
    const a = await setup(qcfg, { ...LEGACY, lm_head: GgmlType.Q8_0 }, cfg, 2, 4, false);
    const b = await setup(qcfg, { ...LEGACY, lm_head: GgmlType.Q8_0 }, cfg, 2, 4, true);
    const frozen = async (model: LlamaModel) => {
      const w = model.weights;
      const lins = [w.embed, w.lmHead, ...w.layers.flatMap((lw) => [lw.q, lw.k, lw.v, lw.o, lw.gate, lw.up, lw.down])];
      const codes = await Promise.all(lins.flatMap((l): Promise<ArrayBufferView>[] => (l.kind === 'quant' ? l.w.codeParts.map((p) => p.codes.read()) : [l.w.read()])));
      return codes.map((t) => Array.from(new Uint32Array(t.buffer)));
    };
    const before = await frozen(a.model);
    expect(before.length).toBe(1 + 1 + 7 * qcfg.numLayers);
    for (const r of [a, b]) r.bw.step(r.acts, r.batch.ids, { targets: r.batch.targets, mask: r.batch.mask });
    expect(await frozen(a.model)).toEqual(before);
    const ga = await Promise.all(a.tr.grads().map((g) => g.read()));
    const gb = await Promise.all(b.tr.grads().map((g) => g.read()));
    expect(ga.length).toBe(gb.length);
    ga.forEach((g, i) => expect(Array.from(gb[i]), `gradient ${i}`).toEqual(Array.from(g)));
    // Recomputation keeps only each layer's input per layer; everything else is one buffer shared by the layers.
    expect(b.acts.plan.slots.filter((s) => /@\d+$/.test(s.key)).map((s) => s.key)).toEqual(['x@0', 'x@1']);
    expect(b.acts.plan.bytes).toBeLessThan(a.acts.plan.bytes);
    a.done();
    b.done();
  });

  it('accumulate adds a second micro-batch into the gradients', async () => {
    const r = await setup(qcfg, LEGACY, { method: 'peqa+lora', lora: { rank: 2 }, norms: true }, 1, 6);
    const other = batchOf(qcfg, 1, 6, 77);
    const run = (b: RefBatch, accumulate: boolean) => r.bw.step(r.acts, b.ids, { targets: b.targets, mask: b.mask, accumulate });
    const read = () => Promise.all(r.tr.grads().map((g) => g.read()));
    run(r.batch, false);
    const g1 = await read();
    run(other, false);
    const g2 = await read();
    run(r.batch, false);
    run(other, true);
    const sum = await read();
    sum.forEach((g, i) => expectClose(`accumulated gradient ${i}`, g, g1[i].map((v, j) => v + g2[i][j]), 1e-6));
    r.done();
  });

  it('refuses what cannot train, with typed errors naming the tensor', async () => {
    const ctx = await gpu();
    const m = synthetic(base, 31, { q: GgmlType.Q4_1 });
    const weights = await loadWeights(ctx, m);
    const model = new LlamaModel(ctx, weights);
    await expect(createTrainable(model, m, { method: 'peqa' })).rejects.toThrow(TrainConfigError);
    await expect(createTrainable(model, m, { method: 'peqa' })).rejects.toThrow(/model\.layers\.0\.self_attn\.k_proj\.weight is stored as F32/);
    await expect(createTrainable(model, m, { method: 'peqa', peqaTargets: ['q'], peqa: 'scale' })).rejects.toThrow(/q_proj\.weight \(Q4_1\) cannot use the 'scale' parametrization/);
    await expect(createTrainable(model, m, { method: 'peqa', peqaTargets: ['q'], peqa: 'gguf-superblock' })).rejects.toThrow(/not a K-quant/);
    await expect(createTrainable(model, m, { method: 'lora' })).rejects.toThrow(/needs lora options/);
    await expect(createTrainable(model, m, { method: 'lora', lora: { rank: 2, targets: ['qkv' as LinearRole] } })).rejects.toThrow(/'qkv' is not a linear role/);
    const tr = await createTrainable(model, m, { method: 'peqa', peqaTargets: ['q'], lora: undefined });
    const bw = new ModelBackward(model, tr, 1, 3);
    const acts = model.activations(1, 3);
    expect(() => bw.step(acts, [1, 2, 3], { targets: [2, 3, 4] })).toThrow(/keep nothing for a backward/);
    const saved = model.activations(1, 3, true);
    expect(() => bw.step(saved, [1, 2, 3], { targets: [2, 3, 0xffffffff], mask: [0, 0, 1] })).toThrow(/no token of the batch counts/);
    [bw, acts, saved, tr, weights].forEach((x) => x.destroy());
  });
});
