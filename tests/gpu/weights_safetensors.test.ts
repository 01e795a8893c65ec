// A Hugging Face folder of BF16 or F16 safetensors on the GPU through
// loadWeights' fast path (read-ahead into reused buffers, conversion into one
// reused f32 scratch: ModelTensor.f32Into) and through originalWeights and
// originalWeightsInTurn (the in-tab quantizers' inputs): every weight, read back from the GPU as raw bits,
// must equal the scalar oracle element by element. The folder has stories260K's
// config and shapes (a 172-wide MLP, so odd tensor sizes), every element random
// bits (subnormals, ±Inf, NaN payloads included), and its tensors in reverse of
// the load's order, so a stale scratch, a reused read buffer handed out early or
// a read-ahead out of step would show as differing words.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpu } from '../helpers/gpu.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { fileSink } from '../../src/io/sink.node.ts';
import { writeSafetensors } from '../../src/io/safetensors/writer.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { paramSpec } from '../../src/arch/params.ts';
import { originalWeights, originalWeightsInTurn } from '../../src/train/quantize_model.ts';
import { f16ToF32, f32Bits } from '../../src/quant/f16.ts';
import { rng } from '../../src/gpu/random.ts';
import type { GpuTensor } from '../../src/gpu/buffers.ts';

const isNan = (b: number) => (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0;
/** BF16: its bits shifted up (payloads kept); F16: the scalar conversion's bits. */
const oracle = (dtype: 'BF16' | 'F16', h: Uint16Array) => Uint32Array.from(h, (x) => (dtype === 'BF16' ? (x << 16) >>> 0 : f32Bits(f16ToF32(x))));

function countDiff(a: Uint32Array, b: Uint32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d++;
  return a.length === b.length ? d : -1;
}

describe('BF16 / F16 safetensors → GPU weights and quantizer inputs, bit for bit', () => {
  for (const dtype of ['BF16', 'F16'] as const)
    it(dtype, { timeout: 120_000 }, async () => {
      const src = fixture('models/stories260K');
      if (!src) return;
      const dir = await mkdtemp(join(tmpdir(), `sub4-st-${dtype}-`));
      try {
        const config = JSON.parse(await readFile(join(src, 'config.json'), 'utf8'));
        await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, torch_dtype: dtype === 'BF16' ? 'bfloat16' : 'float16' }));
        const base = await openModelPath(src);
        const r = rng(dtype === 'BF16' ? 0x5b16 : 0x5f16);
        const values = new Map<string, Uint16Array>();
        for (const t of base.tensors.values()) values.set(t.name, Uint16Array.from({ length: t.shape.reduce((a, b) => a * b, 1) }, () => Math.floor(r() * 65536)));
        await base.close();
        const names = [...values.keys()].sort().reverse();
        const sink = await fileSink(join(dir, 'model.safetensors'));
        await writeSafetensors(sink, names.map((name) => ({ name, dtype, shape: [...base.tensors.get(name)!.shape], data: values.get(name)! })));
        await sink.commit();

        const model = await openModelPath(dir);
        const ctx = await gpu();
        const w = await loadWeights(ctx, model);
        try {
          if (w.embed.kind !== 'dense') throw new Error('a float table must stay f32');
          const gpuTensors = new Map<string, GpuTensor<'f32'>>([['model.embed_tokens.weight', w.embed.w], ['model.norm.weight', w.finalNorm]]);
          const spec = paramSpec(model.config);
          for (const p of spec.filter((q) => q.layer !== null)) {
            const lw = w.layers[p.layer!] as unknown as Record<string, { w?: GpuTensor<'f32'> } | GpuTensor<'f32'>>;
            const field = p.kind === 'norm' ? { attn_norm: 'attnNorm', mlp_norm: 'mlpNorm' }[p.role as string]! : p.role;
            const x = lw[field];
            gpuTensors.set(p.name, (p.kind === 'linear' ? (x as { w: GpuTensor<'f32'> }).w : x) as GpuTensor<'f32'>);
          }
          let words = 0, nans = 0;
          for (const [name, t] of gpuTensors) {
            const want = oracle(dtype, values.get(name)!);
            const got = new Uint32Array((await t.read()).buffer);
            expect(countDiff(got, want), `${name} on the GPU`).toBe(0);
            words += got.length;
            nans += got.filter(isNan).length;
          }
          let qWords = 0;
          const linears = spec.filter((q) => q.kind === 'linear' && q.layer !== null).map((p) => model.tensors.get(p.name)!);
          const bits = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);
          // One at a time (LQ-LoRA, ReALLM), and in turn through the reused buffers (quantizeModelLinears).
          for (const t of linears) expect(countDiff(bits(await originalWeights(model, t, 'test')), oracle(dtype, values.get(t.name)!)), `${t.name} quantizer input`).toBe(0);
          for await (const [t, x] of originalWeightsInTurn(model, linears, 'test')) {
            expect(countDiff(bits(x), oracle(dtype, values.get(t.name)!)), `${t.name} quantizer input, in turn`).toBe(0);
            qWords += x.length;
          }
          expect(qWords).toBe(linears.reduce((a, t) => a + t.shape[0] * t.shape[1], 0));
          console.log(`${dtype}: ${gpuTensors.size} GPU weights, ${words} words (${nans} NaN), 0 differing; quantizer inputs ${qWords} words, 0 differing`);
          expect(gpuTensors.size).toBe(2 + 9 * model.config.numLayers);
        } finally {
          w.destroy();
          await model.close();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
});
