// Embedding lookup: GPU against the reference (bit-exact: it is a copy) for
// whole and row-chunked tables and a folded grid; out-of-range ids are rejected
// on upload with the id and position named, and clamped by the kernel when they
// bypass the check.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { randomF32, rng } from '../../src/gpu/random.ts';
import { embeddingForward, uploadTokenIds, validateTokenIds } from '../../src/gpu/kernels/embedding.ts';
import { embeddingForwardRef } from '../../src/ref/embedding.ts';

const randomIds = (n: number, V: number, seed: number) => {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.floor(r() * V));
};

describe('embedding: GPU vs reference', () => {
  const cases = [
    { V: 1, C: 1, N: 1, chunks: [1] },
    { V: 512, C: 64, N: 37, chunks: [512] },
    { V: 100, C: 7, N: 50, chunks: [30, 1, 69] }, // chunked vocabulary; ids hit every chunk
    { V: 40, C: 33, N: 300, chunks: [40], foldAt: 5 }, // 39 workgroups folded to [5, 8]
  ];
  for (const c of cases)
    it(`V=${c.V} C=${c.C} N=${c.N} chunks=${c.chunks.join('+')}${c.foldAt ? ` foldAt=${c.foldAt}` : ''}`, async () => {
      const ctx = await gpu();
      const E = randomF32(c.V * c.C, c.V + c.C);
      const ids = [...randomIds(c.N - 1, c.V, c.N), c.V - 1];
      let row = 0;
      const chunks = c.chunks.map((rows) => {
        const t = GpuTensor.from(ctx, E.slice(row * c.C, (row + rows) * c.C), [rows, c.C], 'f32');
        row += rows;
        return t;
      });
      const tids = uploadTokenIds(ctx, ids, c.V);
      const x = GpuTensor.from(ctx, new Float32Array(c.N * c.C).fill(NaN), [c.N, c.C], 'f32');
      embeddingForward(ctx, x, chunks.length === 1 ? chunks[0] : chunks, tids, { foldAt: c.foldAt });
      expect(Array.from(await x.read())).toEqual(Array.from(embeddingForwardRef(E, c.C, ids)));
      [...chunks, tids, x].forEach((t) => t.destroy());
    });

  it('rejects bad ids on upload, naming the id and its position', async () => {
    const ctx = await gpu();
    expect(() => uploadTokenIds(ctx, [3, 1, 512, 0], 512)).toThrow(/token id 512 at position 2 .*\[0, 512\)/);
    expect(() => validateTokenIds([0, -1], 10)).toThrow(/token id -1 at position 1/);
    expect(() => validateTokenIds([0, 1.5], 10)).toThrow(/token id 1.5 at position 1/);
    expect(() => validateTokenIds([0, 9], 10)).not.toThrow();
  });

  it('clamps ids ≥ V that bypass the check to the last row', async () => {
    const ctx = await gpu();
    const V = 6;
    const C = 5;
    const E = randomF32(V * C, 77);
    const table = GpuTensor.from(ctx, E, [V, C], 'f32');
    const raw = [2, 6, 0xffffffff, 5];
    const tids = GpuTensor.from(ctx, Uint32Array.from(raw), [4], 'u32');
    const x = GpuTensor.empty(ctx, [4, C], 'f32');
    embeddingForward(ctx, x, table, tids);
    expect(Array.from(await x.read())).toEqual(Array.from(embeddingForwardRef(E, C, raw.map((i) => Math.min(i, V - 1)))));
    expect(() => embeddingForward(ctx, GpuTensor.empty(ctx, [4, C + 1], 'f32'), table, tids)).toThrow(/is not \[4, 5\]/);
    [table, tids, x].forEach((t) => t.destroy());
  });

  it('scales rows by an f32 factor (Gemma: sqrt(hidden)), exactly as an f32 multiply', async () => {
    const ctx = await gpu();
    const V = 7, C = 9;
    const E = randomF32(V * C, 78);
    const scale = Math.fround(Math.sqrt(640));
    const table = GpuTensor.from(ctx, E, [V, C], 'f32');
    const ids = [3, 0, 6, 3];
    const tids = uploadTokenIds(ctx, ids, V);
    const x = GpuTensor.empty(ctx, [4, C], 'f32');
    embeddingForward(ctx, x, table, tids, { scale });
    expect(Array.from(await x.read())).toEqual(Array.from(embeddingForwardRef(E, C, ids, scale), Math.fround));
    expect(() => embeddingForward(ctx, x, table, tids, { scale: NaN })).toThrow(/scale NaN is not finite/);
    [table, tids, x].forEach((t) => t.destroy());
  });
});
