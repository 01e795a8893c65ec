// CPU references of the trainable parametrizations (src/quant/parametrize.ts),
// in f64: the forward view θ → (scale, offset) and its chain rule.
import type { Parametrization } from '../quant/parametrize.ts';

/** CPU reference of the forward view: effective scale and offset from θ (f64). */
export function applyParametrizationRef(p: Parametrization, theta: ArrayLike<number> = p.theta) {
  const G = p.a.length;
  const scale = new Float64Array(G);
  const offset = new Float64Array(G);
  for (let g = 0; g < G; g++) {
    scale[g] = p.a[g] * theta[p.ps[g]];
    offset[g] = p.b[g] * theta[p.pm[g]];
  }
  return { scale, offset };
}

/** CPU reference of the chain rule: dθ from dscale and doffset (f64). */
export function parametrizationBackwardRef(p: Parametrization, dscale: ArrayLike<number>, doffset: ArrayLike<number>): Float64Array {
  const out = new Float64Array(p.theta.length);
  for (let j = 0; j < out.length; j++)
    for (let e = p.ptr[j]; e < p.ptr[j + 1]; e++) out[j] += p.coef[e] * (p.isOffset[e] ? doffset[p.group[e]] : dscale[p.group[e]]);
  return out;
}

