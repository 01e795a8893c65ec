// K-quant layers trained with free-float scales: the refit keeps every code bit,
// approximates the trained scales/offsets with the block's d/dmin and integer
// sub-scales, and reports the weight-space error it really has (checked here by
// decoding the refitted blocks independently).
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { readQuantLinear } from '../../src/model/linear.ts';
import { ggufToQTensor, isQuantGgmlType } from '../../src/quant/gguf_qtensor.ts';
import { dequantizeQ } from '../../src/quant/qtensor.ts';
import { refitKQuant } from '../../src/export/kquant_refit.ts';
import type { TunedLinear } from '../../src/export/tuned.ts';

const path = fixture('models/random-llama-256/random-llama-256-Q4_K_M.gguf');

describe('K-quant refit of free-float scales', () => {
  it('keeps the codes, and reports the weight error its blocks really have (Q4_K with mins, Q6_K without)', async () => {
    if (!path) return;
    const m = await openModelPath(path);
    try {
      const seen = new Set<string>();
      for (const t of m.tensors.values()) {
        if (t.shape.length !== 2 || t.ggmlType === null || !isQuantGgmlType(t.ggmlType) || seen.has(t.type) || !['Q4_K', 'Q6_K'].includes(t.type)) continue;
        seen.add(t.type);
        const { q, origin } = await readQuantLinear(t, t.ggmlType);
        // "Trained": every scale and offset moved by a few percent, independently (not representable exactly).
        let seed = 1;
        const jitter = () => 1 + 0.03 * (((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1);
        const zero = 1 << (q.bits - 1);
        const scale = q.scale.map((s) => s * jitter());
        const offset = origin.m ? q.offset.map((o) => o * jitter()) : scale.map((s) => -zero * s);
        const l: TunedLinear = { name: t.name, layer: 0, role: 'q', q: { ...q, scale, offset }, origin, trained: { kind: origin.m ? 'scale+offset' : 'scale', theta: new Float32Array(0) } };
        const raw = await t.readRaw();
        const r = refitKQuant(raw, l, t.rowOrder);
        const back = ggufToQTensor(t.ggmlType, t.rowOrder ? (await import('../../src/arch/names.ts')).applyRowOrder(r.bytes, raw.length / q.rows, t.rowOrder) : r.bytes, q.rows, q.cols).q;
        expect(back.codes).toEqual(q.codes);
        const want = dequantizeQ(l.q);
        const got = dequantizeQ(back);
        let err = 0;
        let norm = 0;
        for (let i = 0; i < want.length; i++) {
          err += (got[i] - want[i]) ** 2;
          norm += want[i] ** 2;
        }
        const measured = Math.sqrt(err / norm);
        console.log(`${t.name} (${t.type}): refit weight error ${(100 * r.relRmse).toFixed(3)} % reported, ${(100 * measured).toFixed(3)} % measured`);
        expect(Math.abs(measured - r.relRmse)).toBeLessThan(1e-4);
        expect(r.relRmse).toBeLessThan(0.05);
        expect(r.relRmse).toBeGreaterThan(0);
      }
      expect([...seen].sort()).toEqual(['Q4_K', 'Q6_K']);
    } finally {
      await m.close();
    }
  });
});
