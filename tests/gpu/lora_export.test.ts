// LoRA export proven against llama.cpp (node-llama-cpp, CPU) on real GGUF bases
// (stories260K f32 and q4_0), by the perplexity protocol of model_llamacpp.test.ts
// (windows of ctx 128 starting with BOS, tinyshakespeare):
//  - seeded random LoRA factors on all seven roles of every layer, large enough
//    to move perplexity well away from the base, are loaded into a Trainable
//    (loadLoraSet) and sub4's perplexity is measured with them;
//  - the same set written as a llama.cpp adapter GGUF and applied by llama.cpp
//    (createContext({ lora })) gives the same perplexity within 0.5 %, while
//    llama.cpp without the adapter is far from it: the file really applied;
//  - a q/k-only adapter matches too, and the same file with q/k lora_b left in
//    HF row order is clearly off: the q/k row permutation is what makes it match;
//  - PEFT round trip: the trainable's factors → PEFT folder → readPeftAdapter →
//    loadLoraSet into a fresh trainable give sub4's perplexity within 0.1 %
//    (in fact equal: the factors come back bit for bit).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LlamaModel as RefModel } from 'node-llama-cpp';
import { gpu } from '../helpers/gpu.ts';
import { fixture } from '../helpers/fixtures.ts';
import { refModel, refTokenize } from '../helpers/llamacpp.ts';
import { perplexity, pplWindows, type PplResult } from '../helpers/perplexity.ts';
import { memoryTarget } from '../helpers/export_target.ts';
import { writeGgufLoraAdapter } from '../../src/export/gguf_lora.ts';
import { loadLoraSet, LoraLoadError, readLoraSet } from '../../src/train/lora_load.ts';
import { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE } from '../../src/io/lora/peft_names.ts';
import { writePeftAdapter } from '../../src/export/peft.ts';
import { readPeftAdapter } from '../../src/io/lora/peft_read.ts';
import type { LoraFactor, LoraSet } from '../../src/io/lora/set.ts';
import { MemorySink } from '../../src/io/gguf/writer.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { bytesSource } from '../../src/io/source.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import type { LlamaConfig } from '../../src/arch/config.ts';
import { evalWindows, tokenizePrefix } from '../../src/model/eval.ts';
import { LlamaModel, type LayerLora } from '../../src/model/llama.ts';
import { applyRowOrder, qkRowOrder } from '../../src/arch/names.ts';
import { LINEAR_ROLES, paramSpec, type LinearRole } from '../../src/arch/params.ts';
import { createTrainable, type Trainable } from '../../src/model/trainable.ts';
import { loadWeights } from '../../src/model/weights.ts';

const CTX = 128;
const WINDOWS = 4;
const RANK = 4;
const ALPHA = 8;
/**
 * B ~ U(−M, M), A ~ U(−1/√I, 1/√I) (PEFT's A init), scale alpha/r = 2: perplexity rises by ~60–70 %.
 * M is larger on q/k, whose adapters move perplexity least, so a q/k permutation error shows
 * clearly. Much larger factors (perplexity ×100) widen the q4_0 gap between sub4 and llama.cpp,
 * which rounds activations to Q8_0 for its quantized matmuls, past 0.5 % (f32 stays exact).
 */
const MAGNITUDE: Record<LinearRole, number> = { q: 0.4, k: 0.4, v: 0.05, o: 0.05, gate: 0.05, up: 0.05, down: 0.05 };
const BASES = ['models/stories260K.gguf', 'models/stories260K-quantized/stories260K-q4_0.gguf'];

const tmp = mkdtempSync(join(tmpdir(), 'sub4-lora-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function dataText(): string | null {
  const p = fixture('data/tinyshakespeare/input.txt');
  if (!p) return null;
  const text = readFileSync(p, 'utf8');
  return text.slice(0, text.indexOf('\n', 100_000) + 1);
}

/** Seeded factors for `roles` of every layer, shaped from the model's own table. */
function randomSet(c: LlamaConfig, roles: readonly LinearRole[], seed: number): LoraSet {
  const factors: LoraFactor[] = [];
  for (const p of paramSpec(c)) {
    if (p.kind !== 'linear' || p.layer === null || !roles.includes(p.role as LinearRole)) continue;
    const [outF, inF] = p.shape;
    const s = seed + 10 * p.layer + LINEAR_ROLES.indexOf(p.role as LinearRole);
    const a = randomF32(RANK * inF, 2 * s).map((v) => v / Math.sqrt(inF));
    const b = randomF32(outF * RANK, 2 * s + 1).map((v) => v * MAGNITUDE[p.role as LinearRole]);
    factors.push({ layer: p.layer, role: p.role as LinearRole, a, b, inFeatures: inF, outFeatures: outF });
  }
  return { rank: RANK, alpha: ALPHA, factors };
}

/** The set as a file whose q/k lora_b rows stay in HF order: the writer permutes, so pre-apply the inverse. */
function withoutQkPermutation(set: LoraSet, c: LlamaConfig): LoraSet {
  const undo = (f: LoraFactor) => applyRowOrder(f.b, RANK, qkRowOrder(f.outFeatures, f.role === 'q' ? c.numHeads : c.numKvHeads, 'gguf_to_hf'));
  return { ...set, factors: set.factors.map((f) => (f.role === 'q' || f.role === 'k' ? { ...f, b: undo(f) } : f)) };
}

/** sub4's perplexity of the windows, with the trainable's adapters or none. */
function sub4Ppl(model: LlamaModel, windows: number[][], lora?: readonly LayerLora[]): Promise<PplResult> {
  const V = model.config.vocabSize;
  return perplexity(windows, async (win) => {
    const acts = model.activations(1, win.length);
    try {
      model.forward(acts, win, { lora });
      const z = model.logits(acts);
      const all = await z.read();
      z.destroy();
      return win.map((_, t) => all.subarray(t * V, (t + 1) * V));
    } finally {
      acts.destroy();
    }
  });
}

/** llama.cpp's perplexity (F32 KV cache, no flash attention), optionally with an adapter file at scale 1. */
function refPpl(ref: RefModel, windows: number[][], adapter?: string): Promise<PplResult> {
  return perplexity(windows, async (tokens) => {
    const ctx = await ref.createContext({
      contextSize: CTX,
      batchSize: CTX,
      sequences: 1,
      threads: 2,
      flashAttention: false,
      experimentalKvCacheKeyType: 'F32',
      experimentalKvCacheValueType: 'F32',
      ...(adapter ? { lora: { adapters: [{ filePath: adapter, scale: 1 }] } } : {}),
    });
    try {
      const out = await ctx.getSequence().controlledEvaluate(tokens.map((t) => [t as never, { generateNext: { logits: true } }] as const));
      return out.map((o, i) => {
        const logits = o?.next.logits;
        if (!logits) throw new Error(`llama.cpp returned no logits for position ${i}`);
        const row = new Float32Array(logits.size);
        for (const [id, v] of logits) row[id as number] = v;
        return row;
      });
    } finally {
      await ctx.dispose();
    }
  });
}

async function writeAdapterFile(set: LoraSet, c: LlamaConfig, name: string): Promise<string> {
  const sink = new MemorySink();
  await writeGgufLoraAdapter(sink, set, c, { name });
  const path = join(tmp, `${name}.gguf`);
  writeFileSync(path, sink.bytes());
  return path;
}

const pct = (x: number, y: number) => 100 * (x / y - 1);

describe('LoRA export: sub4 vs llama.cpp with the adapter GGUF', () => {
  for (const rel of BASES)
    it(`${rel} (ctx ${CTX}, ${WINDOWS} windows)`, { timeout: 300_000 }, async () => {
      const path = fixture(rel);
      const text = dataText();
      if (!path || !text) return;
      const ref = await refModel(path);
      if (!ref) return;
      const ctx = await gpu();
      const file = await openModelPath(path);
      const weights = await loadWeights(ctx, file);
      const model = new LlamaModel(ctx, weights);
      const c = model.config;
      const trainables: Trainable[] = [];
      const fresh = async () => {
        const tr = await createTrainable(model, file, { method: 'lora', lora: { rank: RANK, alpha: ALPHA, seed: 1 } });
        trainables.push(tr);
        return tr;
      };
      try {
        const tok = file.tokenizer!;
        const windows = evalWindows(tokenizePrefix(tok, text, (CTX - 1) * WINDOWS), tok.bosId, CTX, WINDOWS, 'tinyshakespeare');
        expect(windows, 'sub4 and llama.cpp must score the same windows').toEqual(pplWindows(refTokenize(ref, text), ref.tokens.bos as number, CTX, WINDOWS));
        const name = rel.split('/').at(-1)!.replace(/\.gguf$/, '');
        const log = (s: string) => console.log(`${name}: ${s}`);

        const base = { sub4: await sub4Ppl(model, windows), ref: await refPpl(ref, windows) };
        log(`base ppl: sub4 ${base.sub4.ppl.toFixed(4)}, llama.cpp ${base.ref.ppl.toFixed(4)}`);

        // All seven roles on every layer.
        const set = randomSet(c, LINEAR_ROLES, 7);
        const tr = await fresh();
        loadLoraSet(tr, set, 'random-lora');
        const ours = await sub4Ppl(model, windows, tr.lora);
        const theirs = await refPpl(ref, windows, await writeAdapterFile(set, c, `${name}-all`));
        log(`all roles: sub4 ${ours.ppl.toFixed(4)}, llama.cpp ${theirs.ppl.toFixed(4)} (diff ${pct(ours.ppl, theirs.ppl).toFixed(3)} %); vs base ${pct(ours.ppl, base.sub4.ppl).toFixed(1)} %`);
        expect(Math.abs(pct(ours.ppl, theirs.ppl))).toBeLessThanOrEqual(0.5);
        expect(Math.abs(pct(theirs.ppl, base.ref.ppl)), 'the adapter must change llama.cpp perplexity clearly').toBeGreaterThan(10);
        const flat = await refPpl(ref, windows, await writeAdapterFile(withoutQkPermutation(set, c), c, `${name}-all-hf-order`));
        log(`all roles, q/k lora_b in HF order: llama.cpp ${flat.ppl.toFixed(4)} (${pct(flat.ppl, ours.ppl).toFixed(2)} % from sub4)`);
        expect(Math.abs(pct(flat.ppl, ours.ppl))).toBeGreaterThan(2);

        // q/k only: the permutation alone decides the match.
        const qk = randomSet(c, ['q', 'k'], 70);
        loadLoraSet(tr, qk, 'random-qk-lora'); // the other roles get B = 0
        const oursQk = await sub4Ppl(model, windows, tr.lora);
        const theirsQk = await refPpl(ref, windows, await writeAdapterFile(qk, c, `${name}-qk`));
        const flatQk = await refPpl(ref, windows, await writeAdapterFile(withoutQkPermutation(qk, c), c, `${name}-qk-hf-order`));
        log(`q/k only: sub4 ${oursQk.ppl.toFixed(4)}, llama.cpp ${theirsQk.ppl.toFixed(4)} (diff ${pct(oursQk.ppl, theirsQk.ppl).toFixed(3)} %), ` +
          `unpermuted lora_b ${flatQk.ppl.toFixed(4)} (${pct(flatQk.ppl, oursQk.ppl).toFixed(2)} %); vs base ${pct(oursQk.ppl, base.sub4.ppl).toFixed(1)} %`);
        expect(Math.abs(pct(oursQk.ppl, theirsQk.ppl))).toBeLessThanOrEqual(0.5);
        expect(Math.abs(pct(theirsQk.ppl, base.ref.ppl))).toBeGreaterThan(10);
        expect(Math.abs(pct(flatQk.ppl, oursQk.ppl))).toBeGreaterThan(2);

        // PEFT round trip: trainable → PEFT files → LoraSet → a fresh trainable.
        loadLoraSet(tr, set, 'random-lora');
        const fromGpu = await readLoraSet(tr);
        expect(fromGpu.factors.map((f) => [f.a, f.b])).toEqual(set.factors.map((f) => [f.a, f.b]));
        const target = memoryTarget();
        await writePeftAdapter(target, fromGpu, { baseModel: name });
        const back = await readPeftAdapter({ config: target.text(PEFT_CONFIG_FILE), weights: bytesSource(target.files.get(PEFT_WEIGHTS_FILE)!, PEFT_WEIGHTS_FILE) }, name);
        const tr2 = await fresh();
        expect((await sub4Ppl(model, windows, tr2.lora)).ppl, 'a fresh adapter (B = 0) is the base').toBeCloseTo(base.sub4.ppl, 4);
        loadLoraSet(tr2, back, `${name}-peft`);
        const peft = await sub4Ppl(model, windows, tr2.lora);
        log(`PEFT round trip: sub4 ${peft.ppl.toFixed(6)} vs ${ours.ppl.toFixed(6)} before export (diff ${pct(peft.ppl, ours.ppl).toExponential(2)} %)`);
        expect(Math.abs(pct(peft.ppl, ours.ppl))).toBeLessThanOrEqual(0.1);
      } finally {
        for (const t of trainables) t.destroy();
        weights.destroy();
        await file.close();
      }
    });
});

describe('loadLoraSet refuses adapters that do not fit the trainable', () => {
  it('rank, alpha, layer, role, shape and method mismatches are LoraLoadErrors naming the file; nothing is written', async () => {
    const path = fixture('models/stories260K.gguf');
    if (!path) return;
    const ctx = await gpu();
    const file = await openModelPath(path);
    const weights = await loadWeights(ctx, file);
    const model = new LlamaModel(ctx, weights);
    const tr = await createTrainable(model, file, { method: 'lora', lora: { rank: RANK, alpha: ALPHA, targets: ['q', 'v'] } });
    // A trainable without LoRA factors (what PEQA gives), faked: stories260K.gguf is f32, PEQA needs quantized layers.
    const peqa = { config: { method: 'peqa' }, layers: [{}, {}, {}, {}, {}] } as unknown as Trainable;
    try {
      const c = model.config;
      const good = randomSet(c, ['q', 'v'], 3);
      const before = await tr.layers[0].q!.lora!.lora.b.read();
      const refuses = (set: LoraSet, msg: RegExp, t: Trainable = tr) => {
        let err: unknown;
        try {
          loadLoraSet(t, set, 'bad.gguf');
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(LoraLoadError);
        expect((err as Error).message).toMatch(/^bad\.gguf: /);
        expect((err as Error).message).toMatch(msg);
      };
      refuses({ ...good, rank: 8 }, /rank 8, the training setup rank 4/);
      refuses({ ...good, alpha: 4 }, /alpha 4 \(scale 1\) differs from the training setup's scale 2/);
      refuses(randomSet(c, ['q', 'k'], 3), /layer 0 self_attn\.k_proj has factors, but the training setup has no LoRA there/);
      refuses({ ...good, factors: [...good.factors, { ...good.factors[0], layer: 5 }] }, /layer 5, the model has 5 layers/);
      refuses({ ...good, factors: [{ ...good.factors[1], role: 'q' }] }, /layer 0 self_attn\.q_proj maps 64 → 32 features, the model's layer 64 → 64/);
      refuses({ ...good, factors: [{ ...good.factors[0], a: good.factors[0].a.subarray(4) }] }, /A holds 252 values, \[4, 64\] needs 256/);
      refuses({ ...good, factors: [good.factors[0], good.factors[0]] }, /appears twice/);
      refuses(good, /'peqa' training, which has no LoRA factors/, peqa);
      expect(await tr.layers[0].q!.lora!.lora.b.read()).toEqual(before);
      loadLoraSet(tr, good, 'good.gguf');
      expect(await tr.layers[4].v!.lora!.lora.b.read()).toEqual(good.factors.find((f) => f.layer === 4 && f.role === 'v')!.b);
    } finally {
      tr.destroy();
      weights.destroy();
      await file.close();
    }
  });
});
