// Candidates of the budget plan (src/train/budget/candidates.ts): bytes follow
// the stated convention, the error is the weighted residual of the split it
// reports (recomputed here from the kept split), more rank never hurts much and
// the GGUF blocks are ggmlQuantize's (byte-identical to llama.cpp).
import { describe, expect, it } from 'vitest';
import { choiceName, lqSplit, measureCandidates, parseChoice, quantBytes, type QuantChoice } from '../../src/train/budget/candidates.ts';
import { GgmlType } from '../../src/quant/formats.ts';
import { ggmlQuantize } from '../../src/quant/quantize/ggml_quantize.ts';
import { rng } from '../../src/gpu/random.ts';

function matrix(rows: number, cols: number, seed: number): Float32Array {
  const u = rng(seed);
  const w = new Float32Array(rows * cols);
  // Low-rank structure plus noise, so a LoRA correction has something to take.
  const a = Array.from({ length: rows * 4 }, () => u() - 0.5);
  const b = Array.from({ length: cols * 4 }, () => u() - 0.5);
  for (let i = 0; i < rows; i++) for (let c = 0; c < cols; c++) {
    let x = 0.1 * (u() - 0.5);
    for (let k = 0; k < 4; k++) x += a[i * 4 + k] * b[c * 4 + k];
    w[i * cols + c] = x;
  }
  return w;
}

describe('budget candidates', () => {
  const rows = 64;
  const cols = 256;
  const w = matrix(rows, cols, 7);
  const weights = Float32Array.from({ length: cols }, (_, c) => 0.5 + (c % 7));

  it('counts bytes as stated and measures every fitting type × rank', async () => {
    const choices: QuantChoice[] = [
      { kind: 'gguf', type: GgmlType.Q4_K },
      { kind: 'gguf', type: GgmlType.Q2_K },
      { kind: 'gguf', type: GgmlType.Q8_0 },
      { kind: 'gguf', type: GgmlType.IQ2_XXS }, // grid i-quant: skipped until its port lands (or measured once it has)
      { kind: 'grid', bits: 3, groupSize: 64 },
    ];
    const { candidates, skipped } = await measureCandidates(w, rows, cols, { choices, ranks: [0, 8, 64], weights }, 'w');
    // rank 64 caps at min(64, 256) / 2 = 32.
    expect([...new Set(candidates.map((c) => c.rank))]).toEqual([0, 8, 32]);
    const types = new Set(candidates.map((c) => c.type));
    expect(types.has('Q4_K') && types.has('Q2_K') && types.has('Q8_0') && types.has('sub4-3bit-g64')).toBe(true);
    expect(types.size + skipped.length).toBe(5);
    for (const c of candidates) {
      expect(c.bytes).toBe(c.quantBytes + c.loraBytes);
      expect(c.loraBytes).toBe(2 * c.rank * (rows + cols));
    }
    expect(quantBytes({ kind: 'gguf', type: GgmlType.Q4_K }, rows, cols)).toBe(rows * 144);
    expect(quantBytes({ kind: 'grid', bits: 3, groupSize: 64 }, rows, cols)).toBe(rows * (96 + 16));
    const err = (t: string, r: number) => candidates.find((c) => c.type === t && c.rank === r)!.error;
    expect(err('Q8_0', 0)).toBeLessThan(err('Q4_K', 0));
    expect(err('Q4_K', 0)).toBeLessThan(err('Q2_K', 0));
    // The low-rank structure is taken by the correction.
    expect(err('Q2_K', 32)).toBeLessThan(0.5 * err('Q2_K', 0));
    expect(parseChoice(choiceName(choices[4]))).toEqual(choices[4]);
    expect(parseChoice('Q4_K')).toEqual(choices[0]);
  });

  it('the kept split reproduces its measured error; with one round its blocks are ggmlQuantize of W', async () => {
    const c: QuantChoice = { kind: 'gguf', type: GgmlType.Q3_K };
    const { errors } = await lqSplit(w, rows, cols, c, [0, 8, 16], { weights, seed: 3 });
    const { kept } = await lqSplit(w, rows, cols, c, [16], { weights, seed: 3, sketchRank: 16 }, { rank: 16, scale: 2 });
    expect(kept!.error).toBe(errors.get(16));
    const { kept: k8 } = await lqSplit(w, rows, cols, c, [8], { weights, seed: 3, sketchRank: 16 }, { rank: 8, scale: 0.5 });
    expect(k8!.error).toBe(errors.get(8));
    // Recompute ‖(W − Q − s·B·A)·√w‖² from the kept pieces.
    const s = 0.5;
    let e = 0;
    const target = new Float32Array(w.length);
    for (let i = 0; i < rows; i++) for (let col = 0; col < cols; col++) {
      let l = 0;
      for (let j = 0; j < 8; j++) l += k8!.b![i * 8 + j] * k8!.a![j * cols + col];
      const x = w[i * cols + col] - k8!.quant.dq[i * cols + col] - s * l;
      e += x * x * weights[col];
      target[i * cols + col] = w[i * cols + col] - s * l;
    }
    expect(e / errors.get(8)!).toBeCloseTo(1, 4);
    // The base is llama.cpp's quantization of W − L for the L of the round before: with one round, of W itself.
    const { kept: one } = await lqSplit(w, rows, cols, c, [8], { weights, seed: 3, rounds: 1 }, { rank: 8, scale: 1 });
    expect(one!.quant.blocks).toEqual(ggmlQuantize(GgmlType.Q3_K, w, rows, cols, weights));
  });
});
