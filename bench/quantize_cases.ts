// The quantizer benchmark's cases and timing, shared by Node (bench/quantize.ts)
// and the browser page (bench/quantize_page.ts): every type ggmlQuantize
// writes, with and without an importance matrix where the type takes one
// (only with one where llama.cpp requires it; Q8_0, TQ1_0, TQ2_0, MXFP4, NVFP4
// and the float types ignore it, so they run once). A [ROWS, COLS] matrix of
// seeded Gaussian-ish values; one untimed run first (JIT, workers started),
// then timed runs until MIN_MS has passed. Figure: seconds per million weights.
import { GgmlType } from '../src/quant/formats.ts';
import { GRID_IQUANTS, quantizeRequiresImatrix } from '../src/quant/quantize/ggml_quantize.ts';
import { rng } from '../src/gpu/random.ts';

export const ROWS = 128;
export const COLS = 512;
const MIN_MS = 300;

const NO_IMATRIX = new Set([GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.MXFP4, GgmlType.NVFP4]);

export const BENCH_TYPES: GgmlType[] = [
  GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
  GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS,
  GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.MXFP4, GgmlType.NVFP4, ...GRID_IQUANTS,
];

export interface QuantCase {
  type: string;
  imatrix: boolean;
}

export function benchCases(): QuantCase[] {
  return BENCH_TYPES.flatMap((t) => {
    const name = GgmlType[t];
    if (NO_IMATRIX.has(t)) return [{ type: name, imatrix: false }];
    return quantizeRequiresImatrix(t) ? [{ type: name, imatrix: true }] : [{ type: name, imatrix: false }, { type: name, imatrix: true }];
  });
}

type Quantizer = (type: GgmlType, src: Float32Array, rows: number, cols: number, weights: Float32Array | null) => Uint8Array | Promise<Uint8Array>;

const now = () => performance.now();

/** Seconds per million weights of one case through `q`. */
export async function timeCase(q: Quantizer, c: QuantCase): Promise<number> {
  const r = rng(11);
  const src = Float32Array.from({ length: ROWS * COLS }, () => (r() + r() + r() - 1.5) * 0.05);
  const w = c.imatrix ? Float32Array.from({ length: COLS }, () => 0.05 + r() * r() * 4) : null;
  const type = GgmlType[c.type as keyof typeof GgmlType];
  await q(type, src, ROWS, COLS, w);
  let runs = 0;
  const t0 = now();
  while (now() - t0 < MIN_MS || runs === 0) {
    await q(type, src, ROWS, COLS, w);
    runs++;
  }
  return (now() - t0) / 1000 / runs / ((ROWS * COLS) / 1e6);
}
