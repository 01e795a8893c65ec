// Every block type llama.cpp wrote into the fixtures, dequantized through the
// format table and compared with the F32 source tensor.
//
// The bound is per element and derived from the block's own scales. llama.cpp's
// reference quantizers pick, for each element, the code nearest to x on the block's
// grid y(q) = d_eff·q − m_eff, clamped to the code range [qmin, qmax] (K-quants
// recompute the codes from the stored f16 d/dmin and integer sub-scales at the end
// of quantize_row_q*_K_ref). So with t = (x + m_eff)/d_eff and q the decoded code:
//   qmin < q < qmax : |t − q| ≤ 0.5 + δ          (|x − y| ≤ |d_eff|·(0.5 + δ))
//   q = qmax        : t ≥ q − 0.5 − δ            (x is at or beyond the top of the grid)
//   q = qmin        : t ≤ q + 0.5 + δ
// δ = 1e-4 for K-quants (f32 rounding of (x+dm)/d). Legacy types compute codes from
// the f32 d and min but store them as f16, so δ adds that rounding:
// (max|q| + 0.5)·(2⁻¹¹ + 2⁻²⁵/|d|) + (|m|·2⁻¹¹ + 2⁻²⁵)/|d|.
// Also printed: max |error| and RMS error relative to the source RMS, checked
// against a per-type budget (see RMS_BUDGET).
import { describe, expect, it } from 'vitest';
import { fileSource } from '../../src/io/source.node.ts';
import { findTensor, readGguf, readTensorBytes, readTensorF32 } from '../../src/io/gguf/reader.ts';
import type { GgufFile } from '../../src/io/gguf/types.ts';
import { readF16 } from '../../src/quant/f16.ts';
import { BLOCK_FORMATS, GgmlType, type SupportedType } from '../../src/quant/formats.ts';
import { fixture } from '../helpers/fixtures.ts';

const FILES: Array<[string, string]> = [
  ...['q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0'].map(
    (q) => [`models/stories260K-quantized/stories260K-${q}.gguf`, 'models/stories260K.gguf'] as [string, string],
  ),
  ...['Q2_K', 'Q3_K_M', 'Q4_0', 'Q4_K_M', 'Q5_K_M', 'Q6_K', 'Q8_0'].map(
    (q) => [`models/random-llama-256/random-llama-256-${q}.gguf`, 'models/random-llama-256/random-llama-256-F32.gguf'] as [string, string],
  ),
];

/** Code range of each quantized type (y = d_eff·q − m_eff). */
const GRID: Partial<Record<SupportedType, [qmin: number, qmax: number]>> = {
  [GgmlType.Q4_0]: [-8, 7],
  [GgmlType.Q4_1]: [0, 15],
  [GgmlType.Q5_0]: [-16, 15],
  [GgmlType.Q5_1]: [0, 31],
  [GgmlType.Q8_0]: [-128, 127],
  [GgmlType.Q2_K]: [0, 3],
  [GgmlType.Q3_K]: [-4, 3],
  [GgmlType.Q4_K]: [0, 15],
  [GgmlType.Q5_K]: [0, 31],
  [GgmlType.Q6_K]: [-32, 31],
};

// RMS error / RMS of the source. A uniform quantizer whose step is set by a block's
// absolute maximum (≈2.5σ for 32 Gaussian values, ≈3σ for 256) has RMS error
// step/√12, i.e. about 2.5σ/(2^(b−1))/√12 for symmetric b-bit codes. The budgets are
// that figure with ~1.5× headroom; K-quants search their scales so they beat it.
const RMS_BUDGET: Partial<Record<SupportedType | GgmlType.F16, number>> = {
  [GgmlType.F16]: 1e-3,
  [GgmlType.Q8_0]: 0.01,
  [GgmlType.Q6_K]: 0.03,
  [GgmlType.Q5_0]: 0.06,
  [GgmlType.Q5_1]: 0.06,
  [GgmlType.Q5_K]: 0.06,
  [GgmlType.Q4_0]: 0.12,
  [GgmlType.Q4_1]: 0.12,
  [GgmlType.Q4_K]: 0.12,
  [GgmlType.Q3_K]: 0.25,
  [GgmlType.Q2_K]: 0.45,
};

interface Stats {
  n: number;
  maxErr: number;
  sumSqErr: number;
  sumSqSrc: number;
  maxSteps: number;
  violations: number;
  degenerate: number;
  tensors: number;
  firstViolation?: string;
}

const stats = new Map<number, Stats>();
function statsFor(type: number): Stats {
  let s = stats.get(type);
  if (!s) stats.set(type, (s = { n: 0, maxErr: 0, sumSqErr: 0, sumSqSrc: 0, maxSteps: 0, violations: 0, degenerate: 0, tensors: 0 }));
  return s;
}

const sc = new Int32Array(16);
const mn = new Int32Array(16);

/** Check one quantized tensor element by element against the grid bound above. */
function checkQuantized(name: string, type: SupportedType, bytes: Uint8Array, x: Float32Array, y: Float32Array, s: Stats): void {
  const fmt = BLOCK_FORMATS[type];
  const [qmin, qmax] = GRID[type]!;
  const f = fmt.f16Fields!;
  const codec = fmt.scales;
  const legacy = codec === undefined;
  const sub = codec ? codec.subBlockSize : fmt.blockSize;
  const qAbs = Math.max(-qmin, qmax);
  for (let b = 0; b < x.length / fmt.blockSize; b++) {
    const o = b * fmt.bytesPerBlock;
    const d = readF16(bytes, o + f.d);
    const m = f.m !== undefined ? readF16(bytes, o + f.m) : 0;
    const dmin = f.dmin !== undefined ? readF16(bytes, o + f.dmin) : 0;
    if (codec) codec.decode(bytes, o, sc, codec.mRange ? mn : null);
    for (let e = 0; e < fmt.blockSize; e++) {
      const i = b * fmt.blockSize + e;
      const sIdx = Math.floor(e / sub);
      const dEff = legacy ? d : d * sc[sIdx];
      const mEff = legacy ? -m : codec!.mRange ? dmin * mn[sIdx] : 0;
      if (dEff === 0) {
        s.degenerate++; // every element decodes to −m_eff; no grid to check against
        expect(y[i]).toBe(Math.fround(-mEff) + 0);
        continue;
      }
      const t = (x[i] + mEff) / dEff;
      const qf = (y[i] + mEff) / dEff;
      const q = Math.round(qf);
      const delta = legacy ? (qAbs + 0.5) * (2 ** -11 + 2 ** -25 / Math.abs(d)) + (Math.abs(m) * 2 ** -11 + 2 ** -25) / Math.abs(d) + 1e-4 : 1e-4;
      const onGrid = Math.abs(qf - q) < 1e-3 && q >= qmin && q <= qmax;
      const ok = onGrid && (q === qmax ? t >= q - 0.5 - delta : q === qmin ? t <= q + 0.5 + delta : Math.abs(t - q) <= 0.5 + delta);
      if (q > qmin && q < qmax) s.maxSteps = Math.max(s.maxSteps, Math.abs(t - q));
      if (!ok) {
        s.violations++;
        s.firstViolation ??= `${name} element ${i} (block ${b}): x=${x[i]} y=${y[i]} d_eff=${dEff} m_eff=${mEff} t=${t} q=${qf}`;
      }
    }
  }
}

async function open(rel: string): Promise<GgufFile | null> {
  const p = fixture(rel);
  return p ? readGguf(await fileSource(p)) : null;
}

describe('dequantization of llama.cpp-written blocks stays within the quantization step', () => {
  for (const [qRel, srcRel] of FILES) {
    it(qRel.split('/').pop()!, async () => {
      const qf = await open(qRel);
      const sf = await open(srcRel);
      if (!qf || !sf) return;
      try {
        for (const t of qf.tensors) {
          if (t.type === GgmlType.F32) continue;
          const st = findTensor(sf, t.name)!;
          expect(st.ne).toEqual(t.ne);
          const x = await readTensorF32(sf, st);
          const y = await readTensorF32(qf, t);
          const s = statsFor(t.type);
          s.tensors++;
          for (let i = 0; i < x.length; i++) {
            const err = Math.abs(x[i] - y[i]);
            s.n++;
            s.maxErr = Math.max(s.maxErr, err);
            s.sumSqErr += err * err;
            s.sumSqSrc += x[i] * x[i];
          }
          if (t.type === GgmlType.F16) {
            // f16 rounding: half an ulp of 2⁻¹⁰ relative, or half the 2⁻²⁴ subnormal spacing.
            for (let i = 0; i < x.length; i++)
              if (Math.abs(x[i] - y[i]) > Math.max(Math.abs(x[i]) * 2 ** -11, 2 ** -25)) s.violations++;
          } else {
            checkQuantized(t.name, t.type as SupportedType, await readTensorBytes(qf, t), x, y, s);
          }
        }
      } finally {
        await qf.source.close?.();
        await sf.source.close?.();
      }
    });
  }

  it('every type: no element outside its bound, RMS error within budget (table printed)', () => {
    if (stats.size === 0) return; // fixtures skipped
    const lines = ['type   tensors  elements   max|err|    rms err/rms src   max steps  degenerate  violations'];
    for (const [type, s] of [...stats].sort((a, b) => a[0] - b[0])) {
      const rel = Math.sqrt(s.sumSqErr / s.sumSqSrc);
      lines.push(
        `${GgmlType[type].padEnd(6)} ${String(s.tensors).padStart(7)} ${String(s.n).padStart(9)}  ${s.maxErr.toExponential(3).padStart(10)}  ${rel.toExponential(3).padStart(16)}  ${s.maxSteps.toFixed(4).padStart(10)}  ${String(s.degenerate).padStart(10)}  ${String(s.violations).padStart(10)}`,
      );
    }
    console.log(lines.join('\n'));
    for (const [type, s] of stats) {
      expect(s.violations, `${GgmlType[type]}: ${s.firstViolation ?? ''}`).toBe(0);
      const budget = RMS_BUDGET[type as SupportedType];
      expect(budget, `budget for ${GgmlType[type]}`).toBeDefined();
      expect(Math.sqrt(s.sumSqErr / s.sumSqSrc), GgmlType[type]).toBeLessThan(budget!);
    }
  });
});
