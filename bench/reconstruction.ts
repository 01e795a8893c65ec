// `npx tsx bench/reconstruction.ts [--model F32.gguf] [--imatrix F] [--vq]`: the
// post-training reconstruction error of every quantization type sub4 writes, on
// a model whose rows admit every block (random-llama-256: 256-wide), with and
// without an importance matrix. The budget issue's quality table uses it for
// the 256-block types that stories260K's 64- and 172-wide rows cannot hold; the
// ReALLM issue's for "learned codebooks vs RTN / K-quants / i-quants at 3 bits
// without training" (--vq adds ReALLM's learned codebooks at d ∈ {2, 4, 8}).
//
// Error, per type, over every linear matrix of the model:
//   rel = Σ_m ‖(W − Ŵ)·diag(√a)‖² / Σ_m ‖W·diag(√a)‖²,  a = the imatrix's Σx²/n
// (the error the imatrix weighs: the expected squared output error on the
// calibration inputs, up to their cross terms). "plain" quantizes without the
// imatrix, "imatrix" with it; both are scored the same way, so the difference
// is what the importance weights buy. Bits per weight: the storage the budget
// solver counts (src/train/budget/candidates.ts; learned codebooks: k/d + the
// f16 row scale, plus the table's share shown apart).
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openModel } from '../src/io/model.ts';
import { fileSource } from '../src/io/source.node.ts';
import { readImatrix } from '../src/io/imatrix/index.ts';
import { importanceWeights } from '../src/io/imatrix/types.ts';
import { paramSpec } from '../src/arch/params.ts';
import { originalWeights } from '../src/train/quantize_model.ts';
import { choiceMisfit, choiceName, defaultChoices, quantBytes, quantizeAs, type QuantChoice } from '../src/train/budget/candidates.ts';
import { ImatrixRequiredError, QuantizeUnsupportedError } from '../src/quant/quantize/ggml_quantize.ts';
import { encodeLearned } from '../src/quant/vq/kmeans.ts';
import { dequantizeVq } from '../src/quant/vq/vqtensor.ts';

const shared = resolve(process.env.SUB4_FIXTURES ?? resolve(import.meta.dirname, '../../shared'));
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: `${shared}/models/random-llama-256/random-llama-256-F32.gguf` },
    imatrix: { type: 'string', default: `${shared}/models/random-llama-256/random-llama-256.imatrix.gguf` },
    vq: { type: 'boolean', default: false },
  },
});

const model = await openModel({ kind: 'gguf', source: await fileSource(values.model!) });
const imSrc = await fileSource(values.imatrix!);
const im = await readImatrix(imSrc);
await imSrc.close?.();

interface Matrix { name: string; w: Float32Array; rows: number; cols: number; a: Float32Array }
const mats: Matrix[] = [];
for (const p of paramSpec(model.config).filter((p) => p.kind === 'linear' && p.layer !== null)) {
  const t = model.tensors.get(p.name)!;
  const a = importanceWeights(im, t.ggufName!);
  if (!a) throw new Error(`${values.imatrix}: no entry for ${t.ggufName}`);
  mats.push({ name: p.name, w: await originalWeights(model, t, 'the reconstruction bench'), rows: t.shape[0], cols: t.shape[1], a });
}
const weights = mats.reduce((s, m) => s + m.rows * m.cols, 0);

function weighted(m: Matrix, dq: Float32Array): [number, number] {
  let e = 0, n = 0;
  for (let i = 0; i < m.w.length; i++) {
    const a = m.a[i % m.cols];
    e += a * (m.w[i] - dq[i]) ** 2;
    n += a * m.w[i] ** 2;
  }
  return [e, n];
}

interface Line { type: string; bits: number; tableBits?: number; plain: number | null; imatrix: number | null; note?: string }
const lines: Line[] = [];

async function scalar(c: QuantChoice): Promise<Line | null> {
  if (mats.some((m) => choiceMisfit(c, m.cols))) return null;
  const rel = async (useIm: boolean): Promise<number | string> => {
    let e = 0, n = 0;
    for (const m of mats) {
      try {
        const [de, dn] = weighted(m, (await quantizeAs(c, m.w, m.rows, m.cols, useIm ? m.a : null, m.name)).dq);
        e += de;
        n += dn;
      } catch (err) {
        if (err instanceof ImatrixRequiredError) return 'needs an imatrix';
        if (err instanceof QuantizeUnsupportedError) return 'not ported';
        throw err;
      }
    }
    return e / n;
  };
  const plain = await rel(false), weightedRel = c.kind === 'gguf' ? await rel(true) : plain;
  const bits = (8 * mats.reduce((s, m) => s + quantBytes(c, m.rows, m.cols), 0)) / weights;
  const note = [plain, weightedRel].find((x) => typeof x === 'string') as string | undefined;
  return { type: choiceName(c), bits, plain: typeof plain === 'number' ? plain : null, imatrix: typeof weightedRel === 'number' ? weightedRel : null, note };
}

async function learned(dim: 2 | 4 | 8, bits: number): Promise<Line> {
  const run = async (useIm: boolean) => {
    let e = 0, n = 0, tableBits = 0, codeBits = 0;
    for (const m of mats) {
      const r = await encodeLearned(m.w, m.rows, m.cols, { dim, bits, importance: useIm ? m.a : undefined, seed: 0 });
      const [de, dn] = weighted(m, dequantizeVq(r.q));
      e += de;
      n += dn;
      codeBits += (bits / dim + 16 / m.cols) * m.rows * m.cols;
      tableBits += 2 ** bits * dim * 16;
    }
    return { rel: e / n, bits: codeBits / weights, tableBits: tableBits / weights };
  };
  const plain = await run(false), withIm = await run(true);
  return { type: `learned d=${dim} k=${bits}`, bits: plain.bits, tableBits: plain.tableBits, plain: plain.rel, imatrix: withIm.rel };
}

for (const c of defaultChoices(false)) {
  const l = await scalar(c);
  if (!l) continue;
  lines.push(l);
  console.log(JSON.stringify({ bench: 'reconstruction', ...l }));
}
if (values.vq)
  // 2 and 3 index bits per weight; d = 8 at 2 bits (k = 16) is left out: its 65,536-entry table
  // outweighs a 256-wide model's matrices many times over.
  for (const [dim, bits] of [[4, 8], [2, 4], [4, 12], [2, 6]] as const) {
    const l = await learned(dim, bits);
    lines.push(l);
    console.log(JSON.stringify({ bench: 'reconstruction', ...l }));
  }
lines.sort((x, y) => x.bits - y.bits);
console.log(`\n${model.name}: ${mats.length} matrices, ${weights} weights; rel = imatrix-weighted squared error / weighted norm\n`);
console.log('| type | bits/weight | rel, quantized without imatrix | rel, with imatrix |\n|---|---|---|---|');
for (const l of lines)
  console.log(`| ${l.type} | ${l.bits.toFixed(3)}${l.tableBits ? ` (+${l.tableBits.toFixed(3)} table)` : ''} | ${l.plain?.toExponential(3) ?? l.note} | ${l.imatrix?.toExponential(3) ?? l.note} |`);
