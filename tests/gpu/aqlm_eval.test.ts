// End to end: stories260K's linear layers as learned-table VqTensors (d = 4,
// k = 8, seeded) → an AQLM folder on disk → re-opened by the Node model opener
// → loadWeights, which uploads each layer's readVq() to the codebook kernels
// (src/gpu/vq_gpu.ts). Its held-out perplexity must equal, within 1e-4
// relative, the perplexity of the same re-imported weights dequantized to f32
// (readF32, run by the dense matmul): the codebook kernels run the imported
// layers correctly; and the memory planner bounds a LoRA step on that base
// (measured ≤ planned ≤ 1.1 × measured). Not checked: loading the folder with the Python `aqlm`
// package (not installable in this environment).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeLearned } from '../../src/quant/vq/kmeans.ts';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpu } from '../helpers/gpu.ts';
import { writeAqlmFolder } from '../../src/export/aqlm.ts';
import { folderTarget } from '../../src/export/target.node.ts';
import { paramSpec } from '../../src/arch/params.ts';
import type { LoadedModel, ModelTensor } from '../../src/io/loaded_model.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { evalWindows, perplexityOf, tokenizePrefix } from '../../src/model/eval.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { storageOf } from '../../src/model/planner.ts';
import { boundLine, measureStep } from '../helpers/planner_case.ts';
import type { VqDim, VqTensor } from '../../src/quant/vq/vqtensor.ts';

const CTX = 64;
const WINDOWS = 6;
const AUX = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'];

/** A learned-table VqTensor of W [O, I] by the engine's encoder (src/quant/vq/kmeans.ts): per-row absmax scales, k-means. */
async function learnVq(w: Float32Array, O: number, I: number, d: VqDim, k: number, seed: number): Promise<VqTensor> {
  return (await encodeLearned(w, O, I, { dim: d as 2 | 4 | 8, bits: k, iters: 2, seed })).q;
}

describe('AQLM folder evaluated on the codebook kernels', () => {
  it('perplexity of the re-imported AQLM layers = perplexity of their f32 dequantization', { timeout: 300_000 }, async () => {
    const path = fixture('models/stories260K');
    const textPath = fixture('data/tinyshakespeare/input.txt');
    if (!path || !textPath) return;
    const text = await readFile(textPath, 'utf8');
    const dir = await mkdtemp(join(tmpdir(), 'sub4-aqlm-'));
    const base = await openModelPath(path);
    let re: LoadedModel | null = null;
    const ctx = await gpu();
    const owned: { destroy(): void }[] = [];
    try {
      const linears = new Map<string, VqTensor>();
      let seed = 1;
      for (const p of paramSpec(base.config).filter((e) => e.kind === 'linear' && e.role !== 'lm_head')) {
        const [O, I] = p.shape;
        linears.set(p.name, await learnVq(await base.tensors.get(p.name)!.readF32(), O, I, 4, 8, seed++));
      }
      await writeAqlmFolder(await folderTarget(dir), {
        config: base.hf!.configJson,
        linears,
        tensors: [...base.tensors.values()].filter((t) => !linears.has(t.name)).map((t) => ({ name: t.name, shape: t.shape, read: () => t.readF32() })),
        files: AUX.filter((f) => base.hf!.folder.list().includes(f)).map((f) => ({ name: f, read: () => readFile(join(path, f)) })),
      });
      re = await openModelPath(dir);
      // The same folder with every AQLM layer read as its dequantized f32 (readVq hidden: uploadLinear takes readF32).
      const dense: LoadedModel = {
        ...re,
        tensors: new Map([...re.tensors].map(([n, t]): [string, ModelTensor] => [n, t.readVq ? { ...t, readVq: undefined, vq: undefined } : t])),
      };
      const tok = re.tokenizer!;
      const windows = evalWindows(tokenizePrefix(tok, text, (CTX - 1) * WINDOWS), tok.bosId, CTX, WINDOWS, 'tinyshakespeare');
      const ppl = async (m: LoadedModel) => {
        const w = await loadWeights(ctx, m);
        owned.push(w);
        return { w, r: await perplexityOf(new LlamaModel(ctx, w), windows) };
      };
      const f32 = await ppl(base);
      const vq = await ppl(re);
      const deq = await ppl(dense);
      // The AQLM layers ran as codebook (quant) layers, the dequantized ones as dense.
      for (const role of ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const) {
        const l = vq.w.layers[0][role];
        expect(l.kind === 'quant' && l.ggmlType === null && l.w.vq !== undefined && l.type === 'AQLM 1x8 g4', role).toBe(true);
        expect(deq.w.layers[0][role].kind).toBe('dense');
      }
      const rel = vq.r.ppl / deq.r.ppl - 1;
      console.log(
        `ppl (${WINDOWS}×${CTX} tokens): f32 ${f32.r.ppl.toFixed(4)}, AQLM on the codebook kernels ${vq.r.ppl.toFixed(6)}, dequantized f32 ${deq.r.ppl.toFixed(6)}, diff ${rel.toExponential(2)}`,
      );
      expect(vq.r.tokens).toBe(deq.r.tokens);
      expect(Math.abs(rel)).toBeLessThanOrEqual(1e-4);

      // The planner (storageOf: code words and a table per layer) bounds a LoRA step on the AQLM base.
      for (const o of owned.splice(0)) o.destroy();
      const r = await measureStep(ctx, { m: re, storage: storageOf(re), train: { method: 'lora', lora: { rank: 8 } }, B: 2, T: 64, save: true });
      console.log(boundLine('stories260K AQLM lora saved B=2 T=64', r.measured, r.planned));
      expect(r.measured).toBeLessThanOrEqual(r.planned);
      expect(r.planned).toBeLessThanOrEqual(1.1 * r.measured);
    } finally {
      for (const o of owned) o.destroy();
      await re?.close();
      await base.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
