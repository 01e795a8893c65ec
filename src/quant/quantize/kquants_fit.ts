// The per-sub-block fitting helpers of llama.cpp's K-quant reference quantizers,
// ported from ggml-quants.c (nearest_int, make_qx_quants, make_q3_quants,
// make_qkx2_quants) so that kquants.ts reproduces llama.cpp's bytes. C does all
// of this in float: every arithmetic step is rounded with Math.fround (one f64
// operation on f32 operands rounded to f32 equals the f32 operation, since
// 53 ≥ 2·24+2), in C's evaluation order, left to right. Integers converted to
// float (nmax, l, is) are exact. Arrays are addressed as (array, offset) so the
// row quantizers can fit sub-blocks in place without copying.

const fr = Math.fround;
const MAGIC = 12582912; // 1.5·2^23: adding it leaves round-half-even(x) in the low mantissa bits
const f32Box = new Float32Array(1);
const i32Box = new Int32Array(f32Box.buffer);

/** ggml's GROUP_MAX_EPS (1e-15f): a sub-block whose largest |x| is below this is all zero. */
export const GROUP_MAX_EPS = fr(1e-15);

/**
 * nearest_int: round an f32 to the nearest integer, ties to even, through the
 * float magic-number trick. Exact for |f| ≤ 4194303 (C asserts that, in debug
 * builds only); outside it the same bit arithmetic is replayed so NaN, ±inf and
 * huge inputs give the same garbage as release-built llama.cpp.
 */
export function nearestInt(f: number): number {
  const v = fr(f + MAGIC);
  if (v >= 8388608 && v < 16777216) return v - MAGIC; // exponent 2^23: mantissa = v − 2^23
  f32Box[0] = v;
  return (i32Box[0] & 0x007fffff) - 0x00400000;
}

/** C's MAX(lo, MIN(hi, l)). */
function clamp(l: number, lo: number, hi: number): number {
  return l < lo ? lo : l > hi ? hi : l;
}

/** The sub-block value of largest magnitude (first wins ties) and that magnitude. */
function signedAbsMax(n: number, x: Float32Array, xo: number): [max: number, amax: number] {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i];
    }
  }
  return [max, amax];
}

/** The error weight of make_qx_quants for rmse_type 1..4 (qw, the importance weights, win when given). */
function qxWeight(xi: number, rmseType: number, qw: Float32Array | null, i: number): number {
  if (qw) return qw[i];
  if (rmseType === 1) return fr(xi * xi);
  if (rmseType === 2) return 1;
  if (rmseType === 3) return Math.abs(xi);
  return fr(Math.sqrt(Math.abs(xi)));
}

/**
 * make_qx_quants: symmetric codes L ∈ [0, 2·nmax) (stored as l + nmax) for n
 * values, choosing the scale among 19 candidates −(nmax + 0.1·is)/max by the
 * weighted least-squares fit. Returns the scale. L receives int8-range values.
 */
export function makeQxQuants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  L: Int8Array | Uint8Array,
  lo: number,
  rmseType: number,
  qw: Float32Array | null,
): number {
  const [max, amax] = signedAbsMax(n, x, xo);
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = fr(-nmax / max);
  if (rmseType === 0) {
    for (let i = 0; i < n; i++) L[lo + i] = nmax + clamp(nearestInt(fr(iscale * x[xo + i])), -nmax, nmax - 1);
    return fr(1 / iscale);
  }
  let returnEarly = false;
  if (rmseType < 0) {
    rmseType = -rmseType;
    returnEarly = true;
  }
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = clamp(nearestInt(fr(iscale * xi)), -nmax, nmax - 1);
    L[lo + i] = l + nmax;
    const w = qxWeight(xi, rmseType, qw, i);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 !== 0 ? fr(sumlx / suml2) : 0; // C truthiness: NaN counts as true
  if (returnEarly) return suml2 > 0 ? fr(0.5 * fr(scale + fr(1 / iscale))) : fr(1 / iscale);
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(fr(0.1) * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l = clamp(nearestInt(fr(iscale * xi)), -nmax, nmax - 1);
      const w = qxWeight(xi, rmseType, qw, i);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) L[lo + i] = nmax + clamp(nearestInt(fr(iscale * x[xo + i])), -nmax, nmax - 1);
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/**
 * make_q3_quants: symmetric codes (stored as l + nmax) weighted by x², refined
 * by up to 5 passes of coordinate descent on each code when doRmse. Returns the
 * scale.
 */
export function makeQ3Quants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number, doRmse: boolean): number {
  const [max, amax] = signedAbsMax(n, x, xo);
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const iscale = fr(-nmax / max);
  if (doRmse) {
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l = clamp(nearestInt(fr(iscale * xi)), -nmax, nmax - 1);
      L[lo + i] = l;
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    for (let itry = 0; itry < 5; itry++) {
      let nChanged = 0;
      for (let i = 0; i < n; i++) {
        const xi = x[xo + i];
        const w = fr(xi * xi);
        const li = L[lo + i];
        let slx = fr(sumlx - fr(fr(w * xi) * li));
        if (slx > 0) {
          let sl2 = fr(suml2 - fr(fr(w * li) * li));
          const newL = clamp(nearestInt(fr(fr(xi * sl2) / slx)), -nmax, nmax - 1);
          if (newL !== li) {
            slx = fr(slx + fr(fr(w * xi) * newL));
            sl2 = fr(sl2 + fr(fr(w * newL) * newL));
            if (sl2 > 0 && fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
              L[lo + i] = newL;
              sumlx = slx;
              suml2 = sl2;
              nChanged++;
            }
          }
        }
      }
      if (!nChanged) break;
    }
    for (let i = 0; i < n; i++) L[lo + i] += nmax;
    return suml2 > 0 ? fr(sumlx / suml2) : 0;
  }
  for (let i = 0; i < n; i++) L[lo + i] = clamp(nearestInt(fr(iscale * x[xo + i])), -nmax, nmax - 1) + nmax;
  return fr(1 / iscale);
}

const laux = new Uint8Array(256);

/**
 * make_qkx2_quants: asymmetric codes L ∈ [0, nmax] with a scale and a min ≤ 0,
 * searching nstep+1 candidate scales (rmin + rdelta·is + nmax)/(max − min) and
 * keeping the weighted least-squares fit with the lowest weighted error (|diff|
 * when useMad, diff² otherwise). Returns the scale; writes −min to mins[mi].
 */
export function makeQkx2Quants(
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
  useMad: boolean,
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
  if (max === min) {
    L.fill(0, lo, lo + n);
    mins[mi] = -min;
    return 0;
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = clamp(nearestInt(fr(iscale * fr(xi - min))), 0, nmax);
    L[lo + i] = l;
    let diff = fr(fr(fr(scale * l) + min) - xi);
    diff = useMad ? Math.abs(diff) : fr(diff * diff);
    bestError = fr(bestError + fr(weights[i] * diff));
  }
  if (nstep < 1) {
    mins[mi] = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; is++) {
    // C recomputes (max − min) here: min moves to the best fit so far, and later candidates follow it.
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l = clamp(nearestInt(fr(iscale * fr(xi - min))), 0, nmax);
      laux[i] = l;
      const w = weights[i];
      const wl = fr(w * l);
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
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = fr(fr(fr(thisScale * laux[i]) + thisMin) - x[xo + i]);
        diff = useMad ? Math.abs(diff) : fr(diff * diff);
        curError = fr(curError + fr(weights[i] * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = laux[i];
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  mins[mi] = -min;
  return scale;
}
