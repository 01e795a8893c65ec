// make_qp_quants from ggml-quants.c (used by quantize_row_iq2_xxs_impl for its
// starting scale), f32 arithmetic as in C: Math.fround at every step, left to
// right. Kept apart from kquants_fit.ts, whose K-quant helpers it does not share.
import { GROUP_MAX_EPS, nearestInt } from './kquants_fit.ts';

const fr = Math.fround;
const F0_1 = fr(0.1);

/**
 * make_qp_quants: non-negative codes L ∈ [0, nmax] for x[0..n) with weights qw,
 * scale searched over nmax + 0.1·is (is = −4..4) and refined by coordinate
 * descent (5 passes). Codes are stored as C's uint8_t (a negative code wraps).
 */
export function makeQpQuants(n: number, nmax: number, x: Float32Array, Lout: Uint8Array, qw: Float32Array): number {
  let max = 0;
  for (let i = 0; i < n; i++) max = max > x[i] ? max : x[i];
  if (max < GROUP_MAX_EPS) {
    Lout.fill(0, 0, n);
    return 0;
  }
  let iscale = fr(nmax / max);
  for (let i = 0; i < n; i++) Lout[i] = nearestInt(fr(iscale * x[i]));
  const scale = fr(1 / iscale);
  let bestMse = 0;
  for (let i = 0; i < n; i++) {
    const diff = fr(x[i] - fr(scale * Lout[i]));
    bestMse = fr(bestMse + fr(fr(qw[i] * diff) * diff));
  }
  for (let is = -4; is <= 4; is++) {
    if (is === 0) continue;
    const iscaleIs = fr(fr(fr(F0_1 * is) + nmax) / max);
    const scaleIs = fr(1 / iscaleIs);
    let mse = 0;
    for (let i = 0; i < n; i++) {
      let l = nearestInt(fr(iscaleIs * x[i]));
      if (l > nmax) l = nmax;
      const diff = fr(x[i] - fr(scaleIs * l));
      mse = fr(mse + fr(fr(qw[i] * diff) * diff));
    }
    if (mse < bestMse) {
      bestMse = mse;
      iscale = iscaleIs;
    }
  }
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    let l = nearestInt(fr(iscale * x[i]));
    if (l > nmax) l = nmax;
    Lout[i] = l;
    const w = qw[i];
    sumlx = fr(sumlx + fr(fr(w * x[i]) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const w = qw[i];
      let slx = fr(sumlx - fr(fr(w * x[i]) * Lout[i]));
      let sl2 = fr(suml2 - fr(fr(w * Lout[i]) * Lout[i]));
      if (slx > 0 && sl2 > 0) {
        let newL = nearestInt(fr(fr(x[i] * sl2) / slx));
        if (newL > nmax) newL = nmax;
        if (newL !== Lout[i]) {
          slx = fr(slx + fr(fr(w * x[i]) * newL));
          sl2 = fr(sl2 + fr(fr(w * newL) * newL));
          if (fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
            Lout[i] = newL;
            sumlx = slx;
            suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  return suml2 > 0 ? fr(sumlx / suml2) : 0;
}
