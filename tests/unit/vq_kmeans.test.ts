// ReALLM's learned k-means codebook encoder (src/quant/vq/kmeans.ts) on real
// weights: stories260K (F32) and random-llama-256's F32 file with its
// llama.cpp imatrix. Lloyd's error never rises (printed per iteration), the
// codebook beats uniform scalar RTN at the same index + scale bits (printed,
// with the table's own cost), a fixed seed is deterministic, dequantizeVq of
// the result gives the reported error, and importance weighting lowers the
// importance-weighted error. The encoder refuses rows that are not whole
// vectors (AQLM's in_features % in_group_size == 0) with a typed RangeError.
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { importanceWeights, readImatrix } from '../../src/io/imatrix/index.ts';
import { dequantizeQ } from '../../src/quant/qtensor.ts';
import { quantizeRtn } from '../../src/quant/quantize/rtn.ts';
import { encodeLearned, LearnedCodebookError, vqRelativeError, type LearnedResult } from '../../src/quant/vq/kmeans.ts';
import { getIndex, vqBitsPerWeight } from '../../src/quant/vq/vqtensor.ts';

const storiesPath = fixture('models/stories260K.gguf');
const randomPath = fixture('models/random-llama-256/random-llama-256-F32.gguf');
const imatrixPath = fixture('models/random-llama-256/random-llama-256.imatrix.gguf');

async function weight(path: string, name: string): Promise<{ w: Float32Array; rows: number; cols: number }> {
  const m = await openModelPath(path);
  try {
    const t = m.tensors.get(name)!;
    return { w: await t.readF32(), rows: t.shape[0], cols: t.shape[1] };
  } finally {
    await m.close();
  }
}

const rel = (w: Float32Array, dq: Float32Array) => {
  let e = 0;
  let n = 0;
  for (let i = 0; i < w.length; i++) {
    e += (w[i] - dq[i]) ** 2;
    n += w[i] ** 2;
  }
  return Math.sqrt(e / n);
};

function expectMonotone(name: string, r: LearnedResult): void {
  console.log(`${name}: error per iteration ${r.errors.map((e) => e.toFixed(5)).join(' ')}`);
  for (let i = 1; i < r.errors.length; i++) expect(r.errors[i], `${name} iteration ${i}`).toBeLessThanOrEqual(r.errors[i - 1] * (1 + 1e-6));
  expect(r.errors.at(-1)!).toBeLessThan(r.errors[0]);
}

describe.skipIf(!storiesPath)('learned codebook on stories260K (F32)', () => {
  it('error never rises; beats 2-bit RTN at 2 index bits per weight (d = 2, 4); dequantizeVq gives the reported error', async () => {
    const { w, rows, cols } = await weight(storiesPath!, 'model.layers.1.self_attn.q_proj.weight');
    const rtn = rel(w, dequantizeQ(quantizeRtn(w, rows, cols, { bits: 2, groupSize: 'channel' })));
    const rtnMse = rel(w, dequantizeQ(quantizeRtn(w, rows, cols, { bits: 2, groupSize: 'channel', mse: true })));
    for (const [dim, bits] of [[2, 4], [4, 8], [8, 8]] as const) {
      const r = await encodeLearned(w, rows, cols, { dim, bits, iters: 15, seed: 1 });
      expectMonotone(`stories q_proj [${rows}, ${cols}] d=${dim} k=${bits}`, r);
      console.log(
        `  d=${dim} k=${bits}: ${r.bitsPerWeight.toFixed(3)} bits/weight (+ table ${r.tableBitsPerWeight.toFixed(2)}), error ${r.error.toFixed(4)}; ` +
          `2-bit RTN per row (2 + 64/${cols} bits) ${rtn.toFixed(4)}, with clip search ${rtnMse.toFixed(4)}`,
      );
      expect(r.bitsPerWeight).toBeCloseTo(bits / dim + 32 / cols, 12);
      expect(vqRelativeError(w, r.q)).toBeCloseTo(r.error, 6);
      expect([r.q.codebook.name, r.q.signed, r.q.groupSize, r.q.codebook.size]).toEqual(['learned', false, cols, 2 ** bits]);
      expect(r.q.offset.every((o) => o === 0)).toBe(true);
      if (dim <= 4) expect(r.error).toBeLessThan(rtn); // same index bits as RTN's codes, one scale per row instead of scale and offset
    }
  });

  it('refuses rows that are not whole vectors, and bad dims, bits and importance, with a typed RangeError', async () => {
    const { w, rows, cols } = await weight(storiesPath!, 'model.layers.0.mlp.down_proj.weight'); // [64, 172]: 172 = 21·8 + 4
    const err = await encodeLearned(w, rows, cols, { dim: 8, bits: 8 }).catch((e) => e);
    expect(err).toBeInstanceOf(LearnedCodebookError);
    expect(err).toBeInstanceOf(RangeError);
    expect(err.message).toMatch(/172 columns are not a multiple of the vector length 8/);
    await expect(encodeLearned(w, rows, cols, { dim: 3 as 2, bits: 8 })).rejects.toThrow(LearnedCodebookError);
    await expect(encodeLearned(w, rows, cols, { dim: 4, bits: 17 })).rejects.toThrow(/index bits 17/);
    await expect(encodeLearned(w, rows, cols, { dim: 4, bits: 4, importance: new Float32Array(cols) })).rejects.toThrow(/zero everywhere/);
    await expect(encodeLearned(w, rows, cols, { dim: 4, bits: 4, importance: new Float32Array(3) })).rejects.toThrow(/3 values for 172/);
    const ok = await encodeLearned(w, rows, cols, { dim: 4, bits: 4, iters: 3 }); // 172 = 43·4
    expect(ok.q.cols).toBe(172);
    expect(vqRelativeError(w, ok.q)).toBeCloseTo(ok.error, 6);
  });
});

describe.skipIf(!randomPath)('learned codebook on random-llama-256 (F32)', () => {
  it('d = 4, k = 8: error never rises, beats 2-bit RTN, and a fixed seed is deterministic', async () => {
    const { w, rows, cols } = await weight(randomPath!, 'model.layers.0.self_attn.q_proj.weight'); // [256, 256]
    const o = { dim: 4 as const, bits: 8, iters: 10, seed: 7 };
    const a = await encodeLearned(w, rows, cols, o);
    expectMonotone(`random-llama q_proj [${rows}, ${cols}] d=4 k=8`, a);
    const rtn = rel(w, dequantizeQ(quantizeRtn(w, rows, cols, { bits: 2, groupSize: 'channel' })));
    const rtnMse = rel(w, dequantizeQ(quantizeRtn(w, rows, cols, { bits: 2, groupSize: 'channel', mse: true })));
    const rtn3 = rel(w, dequantizeQ(quantizeRtn(w, rows, cols, { bits: 3, groupSize: 'channel', mse: true })));
    console.log(
      `  d=4 k=8: ${a.bitsPerWeight.toFixed(3)} bits/weight (+ table ${a.tableBitsPerWeight.toFixed(3)}; as stored on the GPU ${vqBitsPerWeight(a.q).toFixed(3)}), ` +
        `error ${a.error.toFixed(4)}; 2-bit RTN per row ${rtn.toFixed(4)}, with clip search ${rtnMse.toFixed(4)} (3-bit with clip search, for scale: ${rtn3.toFixed(4)})`,
    );
    expect(a.error).toBeLessThan(rtn);
    expect(vqRelativeError(w, a.q)).toBeCloseTo(a.error, 6);
    const b = await encodeLearned(w, rows, cols, o);
    expect(b.q.codes).toEqual(a.q.codes);
    expect(b.q.codebook.values).toEqual(a.q.codebook.values);
    expect(b.errors).toEqual(a.errors);
    const c = await encodeLearned(w, rows, cols, { ...o, seed: 8 });
    expect(c.q.codebook.values).not.toEqual(a.q.codebook.values);
    // The large-table initialisation (C sampled vectors) on the same matrix: also monotone, k-means++ starts lower.
    expect(a.init).toBe('kmeans++');
    const f = await encodeLearned(w, rows, cols, { ...o, init: 'sample' });
    expect(f.init).toBe('sample');
    expectMonotone(`random-llama q_proj d=4 k=8, init from sampled vectors`, f);
    expect(a.errors[0]).toBeLessThan(f.errors[0]);
    expect(getIndex(a.q, 3, 5)).toBeLessThan(256);
  });

  it.skipIf(!imatrixPath)('importance weighting (the imatrix) lowers the importance-weighted error', async () => {
    const { w, rows, cols } = await weight(randomPath!, 'model.layers.0.self_attn.q_proj.weight');
    const src = await fileSource(imatrixPath!);
    const importance = importanceWeights(await readImatrix(src), 'blk.0.attn_q.weight')!;
    await src.close?.();
    expect(importance.length).toBe(cols);
    for (const [dim, bits] of [[2, 4], [4, 8]] as const) {
      const o = { dim, bits, iters: 10, seed: 3 };
      const plain = await encodeLearned(w, rows, cols, o);
      const weighted = await encodeLearned(w, rows, cols, { ...o, importance });
      expectMonotone(`random-llama q_proj d=${dim} k=${bits} imatrix-weighted`, weighted);
      const pw = vqRelativeError(w, plain.q, importance);
      const ww = vqRelativeError(w, weighted.q, importance);
      console.log(`  d=${dim} k=${bits}: imatrix-weighted error: unweighted k-means ${pw.toFixed(4)}, weighted ${ww.toFixed(4)}; plain error ${plain.error.toFixed(4)} vs ${weighted.error.toFixed(4)}`);
      expect(ww).toBeLessThan(pw);
      expect(weighted.weightedError).toBeCloseTo(ww, 6);
    }
  });
});
