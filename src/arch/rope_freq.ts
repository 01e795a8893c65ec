// RoPE frequencies from a model's config: inv_freq[D/2] in f64, with every
// scaling type folded in, so the GPU kernels (src/gpu/kernels/rope.ts) and the
// CPU references read one table. Model-layer code: what the scaling types mean
// is config semantics (transformers' and llama.cpp's), not kernel business.
import type { RopeScaling } from './config.ts';

/**
 * inv_freq[i] = theta^(−2i/D) for i < D/2, scaled as the config says, in f64:
 *  - linear: ÷ factor (transformers `_compute_linear_scaling_rope_parameters`);
 *  - llama3: transformers `_compute_llama3_parameters` — wavelengths 2π/inv_freq
 *    above originalMaxPositions/lowFreqFactor are divided by factor, those below
 *    originalMaxPositions/highFreqFactor kept, and the band between interpolated
 *    with smooth = (originalMaxPositions/wavelen − low)/(high − low);
 *  - freq_factors: ÷ freqFactors[i] (GGUF rope_freqs.weight, llama.cpp's form of
 *    llama3 scaling: theta_i / freq_factors[i]).
 */
export function ropeInvFreq(D: number, theta: number, scaling: RopeScaling, freqFactors?: ArrayLike<number>): Float64Array {
  if (!Number.isInteger(D) || D < 2 || D % 2 !== 0) throw new RangeError(`rope: head dim ${D} is not a positive even integer`);
  if (!(theta > 0) || !Number.isFinite(theta)) throw new RangeError(`rope: theta ${theta} is not a positive number`);
  const half = D / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / theta ** ((2 * i) / D);
  switch (scaling.type) {
    case 'none':
      break;
    case 'linear':
      for (let i = 0; i < half; i++) inv[i] /= scaling.factor;
      break;
    case 'llama3': {
      const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: old } = scaling;
      const lowWavelen = old / low;
      const highWavelen = old / high;
      for (let i = 0; i < half; i++) {
        const wavelen = (2 * Math.PI) / inv[i];
        if (wavelen > lowWavelen) inv[i] /= factor;
        else if (wavelen >= highWavelen && high !== low) {
          const smooth = (old / wavelen - low) / (high - low);
          inv[i] = ((1 - smooth) * inv[i]) / factor + smooth * inv[i];
        }
      }
      break;
    }
    case 'freq_factors': {
      if (!freqFactors || freqFactors.length !== half)
        throw new RangeError(`rope: freq_factors scaling needs rope_freqs.weight with ${half} values (D/2), got ${freqFactors ? freqFactors.length : 'none'}`);
      for (let i = 0; i < half; i++) {
        const f = freqFactors[i];
        if (!(f > 0) || !Number.isFinite(f)) throw new RangeError(`rope: rope_freqs.weight[${i}] = ${f} is not a positive number`);
        inv[i] /= f;
      }
      break;
    }
  }
  return inv;
}
