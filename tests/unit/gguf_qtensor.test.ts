// Every quantized tensor of the llama.cpp fixture files converts to a QTensor
// and back to the same bytes, and the QTensor dequantizes to what ggml's
// reference dequantizer gives.
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { readGguf, readTensorBytes } from '../../src/io/gguf/reader.ts';
import { BLOCK_FORMATS, GgmlType } from '../../src/quant/formats.ts';
import { ggufParametrization, ggufToQTensor, isQuantGgmlType, qtensorToGguf } from '../../src/quant/gguf_qtensor.ts';
import { applyParametrizationRef } from '../../src/ref/parametrize.ts';
import { dequantizeQ } from '../../src/quant/qtensor.ts';
import { normRelError } from '../../src/gpu/compare.ts';

const FILES = [
  'models/stories260K-quantized/stories260K-q4_0.gguf',
  'models/stories260K-quantized/stories260K-q4_1.gguf',
  'models/stories260K-quantized/stories260K-q5_0.gguf',
  'models/stories260K-quantized/stories260K-q5_1.gguf',
  'models/stories260K-quantized/stories260K-q8_0.gguf',
  'models/random-llama-256/random-llama-256-Q2_K.gguf',
  'models/random-llama-256/random-llama-256-Q3_K_M.gguf',
  'models/random-llama-256/random-llama-256-Q4_K_M.gguf',
  'models/random-llama-256/random-llama-256-Q5_K_M.gguf',
  'models/random-llama-256/random-llama-256-Q6_K.gguf',
];

describe('GGUF blocks ⇄ QTensor', () => {
  const seen = new Map<string, number>();
  for (const rel of FILES)
    it(rel.split('/').pop()!, async () => {
      const path = fixture(rel);
      if (!path) return;
      const src = await fileSource(path);
      try {
        const f = await readGguf(src);
        let n = 0;
        for (const t of f.tensors) {
          if (!isQuantGgmlType(t.type)) continue;
          const cols = t.ne[0];
          const rows = t.ne.slice(1).reduce((a, b) => a * b, 1);
          const bytes = await readTensorBytes(f, t);
          const { q, origin } = ggufToQTensor(t.type, bytes, rows, cols);
          expect(Buffer.from(qtensorToGguf(q, origin)).equals(Buffer.from(bytes)), `${t.name} (${GgmlType[t.type]}) bytes round trip`).toBe(true);
          const want = new Float32Array(rows * cols);
          BLOCK_FORMATS[t.type].dequantize(bytes, want, bytes.length / BLOCK_FORMATS[t.type].bytesPerBlock);
          const err = normRelError(dequantizeQ(q), want);
          expect(err, `${t.name} (${GgmlType[t.type]}) dequantized values`).toBeLessThanOrEqual(1e-6);
          // The trainable view starts exactly at the file's own parameters.
          const p = ggufParametrization(q, origin);
          const eff = applyParametrizationRef(p);
          expect(normRelError(eff.scale, q.scale), `${t.name} parametrization scale`).toBeLessThanOrEqual(1e-6);
          expect(normRelError(eff.offset, q.offset), `${t.name} parametrization offset`).toBeLessThanOrEqual(1e-6);
          seen.set(GgmlType[t.type], (seen.get(GgmlType[t.type]) ?? 0) + 1);
          n++;
        }
        expect(n).toBeGreaterThan(0);
      } finally {
        await src.close?.();
      }
    });

  it('covered every quantized block type', () => {
    if (seen.size === 0) return; // fixtures absent: the per-file tests printed why
    console.log('tensors converted per type:', Object.fromEntries(seen));
    for (const t of ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K']) expect(seen.get(t), t).toBeGreaterThan(0);
  });
});
