// Random codebook tensors for the vqlinear tests (tests/gpu/vqlinear*.test.ts),
// as tests/helpers/qlinear_case.ts is for the scalar ones.
import { randomF32 } from '../../src/gpu/random.ts';
import { emptyVqTensor, setIndex, setSign, type Codebook, type VqDim, type VqIndexBits, type VqTensor } from '../../src/quant/vq/vqtensor.ts';

export interface VqCase {
  T: number;
  I: number;
  O: number;
  dim: VqDim;
  bits: VqIndexBits;
  signed: boolean;
  G: number | 'channel';
  R?: number;
  learned?: boolean;
}

export function vqCaseName(c: VqCase): string {
  return `T=${c.T} I=${c.I} O=${c.O} dim=${c.dim} ${c.bits}-bit ${c.signed ? 'signed' : 'unsigned'} G=${c.G}${c.R ? ` LoRA r=${c.R}` : ''}${c.learned ? ' learned' : ''}`;
}

/** A random VqTensor: table entries in [−1, 1) (16-bit: 40000 entries, so bit 15 is used), every index and sign random, scales in ±[0.5, 1.5), offsets in [−0.1, 0.1). */
export function randomVq(c: Pick<VqCase, 'I' | 'O' | 'dim' | 'bits' | 'signed' | 'G' | 'learned'>, seed: number): VqTensor {
  const size = c.bits === 16 ? 40000 : 2 ** c.bits;
  const codebook: Codebook = { name: c.learned ? 'learned' : `test-${c.dim}x${size}-${seed}`, dim: c.dim, size, values: randomF32(size * c.dim, seed) };
  const q = emptyVqTensor(c.O, c.I, codebook, c.G === 'channel' ? c.I : c.G, c.signed, c.bits);
  const r = randomF32(c.O * (c.I / c.dim + c.I), seed + 1);
  let n = 0;
  for (let o = 0; o < c.O; o++) {
    for (let v = 0; v < c.I / c.dim; v++) setIndex(q, o, v, Math.min(size - 1, Math.floor(((r[n++] + 1) / 2) * size)));
    if (c.signed) for (let k = 0; k < c.I; k++) setSign(q, o, k, r[n++] < 0);
  }
  q.scale.set(randomF32(q.scale.length, seed + 2).map((v) => (v < 0 ? v - 0.5 : v + 0.5)));
  q.offset.set(randomF32(q.offset.length, seed + 3).map((v) => v * 0.1));
  return q;
}

