import { describe, expect, it } from 'vitest';
import { linearShapes, planTraining } from '../../src/model/planner.ts';

const smol = { vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, numLayers: 30, numHeads: 9, numKvHeads: 3, headDim: 64, tieWordEmbeddings: true };

describe('memory planner', () => {
  it('counts the quantized base exactly: codes plus f32 scale and offset per group', () => {
    const p = planTraining({ model: smol, method: 'peqa', batch: 1, seq: 1, bits: 4, groupSize: 64 });
    let want = 0;
    for (const [o, i] of linearShapes(smol)) want += (o * Math.ceil(i / 32) * 32 * 4) / 8 + 8 * o * Math.ceil(i / 64);
    expect(p.parts.base).toBe(want * 30);
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
    for (const [o, i] of linearShapes(smol)) groups += o * Math.ceil(i / 128);
    expect(p.parts.trainable).toBe(groups * 30 * 2 * 4 * 2);
    expect(p.parts.optimizer).toBe((p.parts.trainable / 2) * 5); // m, v and the rollback copies of θ, m, v
  });
});
