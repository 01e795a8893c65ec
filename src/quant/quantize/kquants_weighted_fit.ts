// The fitting helpers that only llama.cpp's importance-weighted quantizers use,
// written from ggml-quants.c make_qkx3_quants and make_qp_quants (the weighted
// make_qx_quants is shared with the reference path, see kquants_fit.ts). Same
// conventions as kquants_fit.ts: every float step rounded with Math.fround in
// C's order (left to right), ints converted to float exactly, arrays addressed
// as (array, offset). Weights are always given here (every caller passes them).
import { GROUP_MAX_EPS, nearestInt } from './kquants_fit.ts';

const fr = Math.fround;

const laux = new Uint8Array(32);

/**
 * make_qkx3_quants: asymmetric codes L ∈ [0, nmax] with a scale and a min ≤ 0.
 * Like make_qkx2_quants but with the error always diff² (use_mad = false in
 * every caller), degenerate when max ≤ min, and nstep+1 candidate scales
 * (rmin + rdelta·is + nmax)/(max − min). Returns the scale; writes −min to
 * mins[mi]. n ≤ 32.
 */
export function makeQkx3Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  weights: Float32Array,
  L: Uint8Array,
  lo: number,
  mins: Float32Array,
  mi: number,
  rmin: number,
  rdelta: number,
  nstep: number,
): number {
  let min = x[xo];
  let max = x[xo];
  let sumW = weights[0];
  let sumX = fr(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i];
    sumW = fr(sumW + w);
    sumX = fr(sumX + fr(w * xi));
  }
  if (min > 0) min = 0;
  if (max <= min) {
    L.fill(0, lo, lo + n);
    mins[mi] = -min;
    return 0;
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestMad = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = nearestInt(fr(iscale * fr(xi - min)));
    const q = l < 0 ? 0 : l > nmax ? nmax : l;
    L[lo + i] = q;
    const diff = fr(fr(fr(scale * q) + min) - xi);
    bestMad = fr(bestMad + fr(weights[i] * fr(diff * diff)));
  }
  if (nstep < 1) {
    mins[mi] = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; is++) {
    // (max − min) is re-read each step: min follows the best fit so far, as in C.
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l0 = nearestInt(fr(iscale * fr(xi - min)));
      const l = l0 < 0 ? 0 : l0 > nmax ? nmax : l0;
      laux[i] = l;
      const wl = fr(weights[i] * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * xi));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let mad = 0;
      for (let i = 0; i < n; i++) {
        const diff = fr(fr(fr(thisScale * laux[i]) + thisMin) - x[xo + i]);
        mad = fr(mad + fr(weights[i] * fr(diff * diff)));
      }
      if (mad < bestMad) {
        for (let i = 0; i < n; i++) L[lo + i] = laux[i];
        bestMad = mad;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  mins[mi] = -min;
  return scale;
}

/**
 * make_qp_quants: non-negative codes L ∈ [0, nmax] (uint8_t in C: a negative
 * nearest_int wraps, and Uint8Array stores wrap the same way) for n scales or
 * mins, one scale picked among 9 candidates (nmax + 0.1·is)/max by weighted
 * MSE, then up to 5 passes of per-code coordinate descent. Returns the scale.
 */
export function makeQpQuants(n: number, nmax: number, x: Float32Array, L: Uint8Array, qw: Float32Array): number {
  let max = 0;
  for (let i = 0; i < n; i++) max = max > x[i] ? max : x[i]; // MAX(max, x[i])
  if (max < GROUP_MAX_EPS) {
    L.fill(0, 0, n);
    return 0;
  }
  let iscale = fr(nmax / max);
  for (let i = 0; i < n; i++) L[i] = nearestInt(fr(iscale * x[i]));
  const scale = fr(1 / iscale);
  let bestMse = 0;
  for (let i = 0; i < n; i++) {
    const diff = fr(x[i] - fr(scale * L[i]));
    bestMse = fr(bestMse + fr(fr(qw[i] * diff) * diff));
  }
  for (let is = -4; is <= 4; is++) {
    if (is === 0) continue;
    const iscaleIs = fr(fr(fr(fr(0.1) * is) + nmax) / max);
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
    L[i] = l;
    const w = qw[i];
    sumlx = fr(sumlx + fr(fr(w * x[i]) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const w = qw[i];
      const Li = L[i];
      let slx = fr(sumlx - fr(fr(w * x[i]) * Li));
      let sl2 = fr(suml2 - fr(fr(w * Li) * Li));
      if (slx > 0 && sl2 > 0) {
        let newL = nearestInt(fr(fr(x[i] * sl2) / slx));
        if (newL > nmax) newL = nmax;
        if (newL !== Li) {
          slx = fr(slx + fr(fr(w * x[i]) * newL));
          sl2 = fr(sl2 + fr(fr(w * newL) * newL));
          if (fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
            L[i] = newL;
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
