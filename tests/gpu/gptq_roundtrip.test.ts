// End to end: stories260K (HF folder) quantized by sub4 (RTN, integer zero
// points) → a GPTQ folder on disk → re-opened by the Node model opener. Every
// packed layer's QTensor must come back with identical codes and zero points
// and f16-rounded scales; layers GPTQ cannot pack (the 172-wide MLP) come back
// as dense F16; and the held-out perplexity of the re-imported model must match
// the in-memory quantized model within 0.1 %.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpu } from '../helpers/gpu.ts';
import { writeGptqFolder } from '../../src/export/gptq/folder.ts';
import type { LoadedModel, ModelTensor } from '../../src/io/loaded_model.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { fileSink } from '../../src/io/sink.node.ts';
import { evalWindows, perplexityOf, tokenizePrefix } from '../../src/model/eval.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { storageOf } from '../../src/model/planner.ts';
import { createTrainable } from '../../src/model/trainable.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { scaleParametrization } from '../../src/quant/parametrize.ts';
import { f16ToF32, f32ToF16 } from '../../src/quant/f16.ts';
import { zeroPoints } from '../../src/quant/quantize/rtn.ts';
import type { QTensor } from '../../src/quant/qtensor.ts';
import { quantizeModelLinears, type QuantizeOptions } from '../../src/train/quantize_model.ts';

const CTX = 64;
const WINDOWS = 6;
const AUX = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'];

describe('GPTQ export → import of stories260K', () => {
  const cases: QuantizeOptions[] = [
    { bits: 4, groupSize: 32 },
    { bits: 3, groupSize: 32 },
    { bits: 2, groupSize: 'channel' },
  ];
  for (const opts of cases)
    it(`${opts.bits}-bit ${opts.groupSize === 'channel' ? 'per-channel' : `g${opts.groupSize}`}`, { timeout: 300_000 }, async () => {
      const path = fixture('models/stories260K');
      const textPath = fixture('data/tinyshakespeare/input.txt');
      if (!path || !textPath) return;
      const text = await readFile(textPath, 'utf8');
      const dir = await mkdtemp(join(tmpdir(), 'sub4-gptq-'));
      const base = await openModelPath(path);
      let re: LoadedModel | null = null;
      const ctx = await gpu();
      const owned: { destroy(): void }[] = [];
      try {
        const quantized = await quantizeModelLinears(base, opts);
        const res = await writeGptqFolder(
          { create: (name) => fileSink(join(dir, name)) },
          {
            config: base.hf!.configJson,
            linears: quantized,
            tensors: [...base.tensors.values()].filter((t) => !quantized.has(t.name)).map((t) => ({ name: t.name, shape: t.shape, read: () => t.readF32() })),
            files: AUX.filter((f) => base.hf!.folder.list().includes(f)).map((f) => ({ name: f, read: () => readFile(join(path, f)) })),
            readme: '# stories260K GPTQ (test)\n',
          },
        );
        console.log(
          `${opts.bits}-bit ${opts.groupSize}: format ${res.format}, bits ${res.bits}, group_size ${res.groupSize}, sym ${res.sym}, ` +
            `${res.packed.length} packed, ${res.dense.length} dense (${[...new Set(res.dense.map((d) => d.name.replace(/^model\.layers\.\d+\./, '')))].join(', ')}), ${res.bytes} bytes`,
        );
        expect(res.packed.length).toBe(4 * base.config.numLayers); // q, k, v, o of every layer
        expect(res.dense.length).toBe(3 * base.config.numLayers); // gate, up (out 172), down (in 172)

        re = await openModelPath(dir);
        expect(re.tokenizer, re.tokenizerProblem ?? '').not.toBeNull();
        let maxScaleRel = 0;
        for (const [name, q] of quantized) {
          const t: ModelTensor = re.tensors.get(name)!;
          if (!res.packed.includes(name)) {
            expect(t.type).toBe('F16');
            continue;
          }
          expect(t.type).toBe(`GPTQ ${opts.bits}-bit ${opts.groupSize === 'channel' ? 'per-channel' : `g${opts.groupSize}`}`);
          // The planner sees the quantized grid it will hold, not a dense f32 weight.
          expect(storageOf(re)(name)).toEqual({ kind: 'quant', bits: q.bits, groupSize: q.groupSize });
          const got: QTensor = await t.readQ!();
          expect([got.rows, got.cols, got.bits, got.groupSize]).toEqual([q.rows, q.cols, q.bits, q.groupSize]);
          expect(Buffer.from(got.codes.buffer).equals(Buffer.from(q.codes.buffer)), `${name} codes`).toBe(true);
          const z = zeroPoints(q);
          for (let g = 0; g < q.scale.length; g++) {
            const s16 = f16ToF32(f32ToF16(q.scale[g]));
            if (got.scale[g] !== s16) expect.fail(`${name} scale ${g}: ${got.scale[g]} ≠ f16(${q.scale[g]}) = ${s16}`);
            if (got.offset[g] !== Math.fround(-z[g] * s16)) expect.fail(`${name} offset ${g}: zero point changed`);
            maxScaleRel = Math.max(maxScaleRel, Math.abs(s16 / q.scale[g] - 1));
          }
        }
        console.log(`  scales: max relative change from f16 rounding ${maxScaleRel.toExponential(2)}`);
        expect(maxScaleRel).toBeLessThanOrEqual(2 ** -11);

        // Perplexity: in-memory quantized model vs the re-imported GPTQ folder (and the f32 model for scale).
        const tok = base.tokenizer!;
        const windows = evalWindows(tokenizePrefix(tok, text, (CTX - 1) * WINDOWS), tok.bosId, CTX, WINDOWS, 'tinyshakespeare');
        const reTok = re.tokenizer!;
        expect(evalWindows(tokenizePrefix(reTok, text, (CTX - 1) * WINDOWS), reTok.bosId, CTX, WINDOWS, 'tinyshakespeare')).toEqual(windows);
        const ppl = async (m: LoadedModel, quantizedOpt?: typeof quantized) => {
          const w = await loadWeights(ctx, m, { quantized: quantizedOpt });
          owned.push(w);
          const model = new LlamaModel(ctx, w);
          return { w, model, r: await perplexityOf(model, windows) };
        };
        const f32 = await ppl(base);
        const mem = await ppl(base, quantized);
        const imp = await ppl(re);
        // The GPTQ layers run through qlinear with their CPU QTensor kept: PEQA's 'scale' view builds on them.
        const q0 = imp.w.layers[0].q;
        expect(q0.kind === 'quant' && q0.ggmlType === null && q0.q !== undefined).toBe(true);
        if (q0.kind === 'quant') expect(() => scaleParametrization(q0.q!)).not.toThrow();
        const peqa = await createTrainable(imp.model, re, { method: 'peqa', peqaTargets: ['q', 'k', 'v', 'o'] });
        owned.push(peqa);
        expect(peqa.groups().find((g) => g.name === 'quant-scales')?.params.length).toBe(4 * base.config.numLayers);
        const rel = imp.r.ppl / mem.r.ppl - 1;
        console.log(
          `  ppl (${WINDOWS}×${CTX} tokens): f32 ${f32.r.ppl.toFixed(4)}, quantized in memory ${mem.r.ppl.toFixed(4)}, GPTQ re-imported ${imp.r.ppl.toFixed(4)}, diff ${(100 * rel).toFixed(4)} %`,
        );
        expect(imp.r.tokens).toBe(mem.r.tokens);
        expect(Math.abs(rel)).toBeLessThanOrEqual(0.001);
      } finally {
        for (const o of owned) o.destroy();
        await re?.close();
        await base.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
});
