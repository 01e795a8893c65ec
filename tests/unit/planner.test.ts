import { describe, expect, it } from 'vitest';
import { linearShapes, planTraining } from '../../src/model/planner_card.ts';

const smol = { vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, numLayers: 30, numHeads: 9, numKvHeads: 3, headDim: 64, tieWordEmbeddings: true };

describe('memory planner', () => {
  it('counts the quantized base exactly: codes plus f32 scale and offset per group', () => {
    const p = planTraining({ model: smol, method: 'peqa', batch: 1, seq: 1, bits: 4, groupSize: 64 });
    let want = 0;
    for (const [o, i] of linearShapes(smol)) want += (o * Math.ceil(i / 32) * 32 * 4) / 8 + 8 * o * Math.ceil(i / 64);
    // + the RMSNorm weights (2 per layer and the final one) and the rotary table (D/2 u32 pairs, and a 4-byte stand-in).
    expect(p.parts.base).toBe(want * 30 + (2 * 30 + 1) * 576 * 4 + 64 * 4 + 4);
    expect(p.parts.embeddings).toBe(49152 * 576 * 4);
  });
  it('grows with sequence length and batch, and LoRA state scales with the rank', () => {
    const a = planTraining({ model: smol, method: 'lora', batch: 1, seq: 256, bits: 4, groupSize: 64, rank: 8 });
    const b = planTraining({ model: smol, method: 'lora', batch: 2, seq: 256, bits: 4, groupSize: 64, rank: 8 });
    const c = planTraining({ model: smol, method: 'lora', batch: 1, seq: 256, bits: 4, groupSize: 64, rank: 16 });
    expect(b.parts.activations).toBeGreaterThan(1.9 * a.parts.activations);
    expect(c.parts.trainable).toBe(2 * a.parts.trainable);
    expect(a.total).toBe(Object.values(a.parts).reduce((s, v) => s + v, 0));
  });
  it('PEQA trains one scale and one offset per group', () => {
    const p = planTraining({ model: smol, method: 'peqa', batch: 1, seq: 16, bits: 2, groupSize: 128 });
    let groups = 0;
    let scratch = 0;
    const shapes = new Set<string>();
    for (const [o, i] of linearShapes(smol)) {
      groups += o * Math.ceil(i / 128);
      if (!shapes.has(`${o}x${i}`)) scratch += 2 * o * Math.ceil(i / 128) * 4; // dscale/doffset, one pair per distinct shape
      shapes.add(`${o}x${i}`);
    }
    // Per group: θ = (s, m) and dθ (4 words), and the parametrization's constant maps on the GPU (src/gpu/kernels/qparam.ts):
    // a, b, ps, pm (1 word each), ptr (2, + 1 per layer), coef, group, isOffset (2 each) — 12 words; the ledger holds them all.
    expect(p.parts.trainable).toBe(groups * 30 * 16 * 4 + 30 * 7 * 4 + scratch);
    // AdamW m, v and the rollback copies of θ, m, v (5 × θ), plus the grad-norm partials (2 u32 per 256 values, + 2).
    let partials = 0;
    for (const [o, i] of linearShapes(smol)) partials += Math.ceil((2 * o * Math.ceil(i / 128)) / 256);
    expect(p.parts.optimizer).toBe(groups * 30 * 2 * 4 * 5 + (2 * (partials * 30 + 1)) * 4);
  });
});
