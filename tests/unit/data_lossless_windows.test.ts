// Windows with no token in the loss (issue 21, item 1): an Alpaca example whose
// prompt is longer than a window leaves windows of prompt tokens only, and a
// training step drawing only those had nothing to divide its loss by (the studio's
// run of stories260K on alpaca_5000.json, seq 64, seed 0 died at step 13). The
// dataset leaves them out and counts them; nothing else about the windows changes.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { readGguf } from '../../src/io/gguf/reader.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { tokenizerFromGguf } from '../../src/io/tokenizer/gguf.ts';
import { buildDataset } from '../../src/train/data/dataset.ts';
import { dropLosslessWindows, packWindows, type Windows } from '../../src/train/data/pack.ts';
import type { TokenizedExample } from '../../src/train/data/types.ts';
import { fixture } from '../helpers/fixtures.ts';

/** Indices of the windows whose mask is all 0. */
function lossless(w: Windows): number[] {
  const out: number[] = [];
  for (let i = 0; i < w.count; i++) if (w.mask.subarray(i * w.seqLen, (i + 1) * w.seqLen).every((m) => m === 0)) out.push(i);
  return out;
}

describe('windows with no token in the loss', () => {
  test('dropLosslessWindows keeps every other window whole and in order', () => {
    // Example 1: a 10-token prompt (mask 0) and a 2-token response; example 2 all in the loss. T = 4.
    const ex: TokenizedExample[] = [
      { line: 1, index: 0, ids: Array.from({ length: 12 }, (_, j) => 10 + j), mask: Uint8Array.from({ length: 12 }, (_, j) => (j >= 10 ? 1 : 0)) },
      { line: 2, index: 1, ids: [50, 51, 52, 53], mask: Uint8Array.of(0, 1, 1, 1) },
    ];
    const packed = packWindows(ex, 4, 'packed', 0);
    const empty = lossless(packed);
    expect(empty.length).toBeGreaterThan(0);
    const { windows, dropped } = dropLosslessWindows(packed);
    expect(dropped).toBe(empty.length);
    expect(windows.count).toBe(packed.count - dropped);
    expect(lossless(windows)).toEqual([]);
    expect(windows.lossTokens).toBe(packed.lossTokens);
    const kept = Array.from({ length: packed.count }, (_, i) => i).filter((i) => !empty.includes(i));
    kept.forEach((src, i) => {
      for (const k of ['inputs', 'targets', 'mask', 'segment'] as const) expect([...windows[k].subarray(i * 4, i * 4 + 4)]).toEqual([...packed[k].subarray(src * 4, src * 4 + 4)]);
    });
    let pad = 0;
    for (const s of windows.segment) if (s === 0) pad++;
    expect(windows.padTokens).toBe(pad);
    // Nothing to drop: the same windows back.
    expect(dropLosslessWindows(windows)).toEqual({ windows, dropped: 0 });
  });

  test('alpaca_5000.json with stories260K, seq 64, seed 0 (the issue\'s recipe): no such window is built, and the report counts them', async (ctx) => {
    const modelPath = fixture('models/stories260K.gguf');
    const dataPath = fixture('data/alpaca/alpaca_5000.json');
    if (!modelPath || !dataPath) return ctx.skip();
    const src = await fileSource(modelPath);
    const tok = await (async () => {
      try {
        return tokenizerFromGguf((await readGguf(src)).kv, modelPath);
      } finally {
        await src.close?.();
      }
    })();
    const ds = buildDataset(readFileSync(dataPath, 'utf8'), 'alpaca_5000.json', tok, { seqLen: 64, seed: 0, evalFraction: 0.1 });
    const c = ds.counts;
    console.log(`alpaca, seq 64: ${c.trainWindows} train + ${c.evalWindows} held-out windows; ${c.windowsWithoutLoss} without a loss token left out`);
    expect(lossless(ds.train)).toEqual([]);
    expect(lossless(ds.eval)).toEqual([]);
    // What was left out is exactly the windows packing made without a loss token, and no loss token went with them.
    const T = 64;
    const allTrain = packWindows(ds.trainExamples, T, ds.packing, tok.eosIds[0]);
    const allEval = packWindows(ds.evalExamples, T, ds.packing, tok.eosIds[0]);
    expect(c.windowsWithoutLoss).toBe(lossless(allTrain).length + lossless(allEval).length);
    expect(c.windowsWithoutLoss).toBeGreaterThan(0);
    expect(c.trainWindows + c.evalWindows + c.windowsWithoutLoss).toBe(allTrain.count + allEval.count);
    expect(ds.train.lossTokens).toBe(allTrain.lossTokens);
    expect(ds.eval.lossTokens).toBe(allEval.lossTokens);
  });
});
