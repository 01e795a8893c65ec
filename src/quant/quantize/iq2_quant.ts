// llama.cpp's IQ2_XXS, IQ2_XS and IQ2_S quantizers, ported from ggml-quants.c
// quantize_row_iq2_xxs_impl, quantize_row_iq2_xs_impl and
// quantize_row_iq2_s_impl (with iq2_find_best_neighbour; make_qp_quants is in
// iq_qp_quants.ts) so the bytes equal llama.cpp's. f32 arithmetic as in C:
// Math.fround at every step, left to right (a*b*c is (a*b)*c). Weights qw·sqrt(sigma2 + x²) with
// sigma2 = Σx²/256 (IQ2_XXS, IQ2_XS; weights required) or 2·Σx²/256 (IQ2_S,
// which falls back to 0.25·sigma2 + x² without an importance matrix).
import { f32ToF16, writeU16 } from '../f16.ts';
import { latticeKey, latticeTables, neighboursOf, type LatticeTables } from './iq_grid_init.ts';
import { makeQpQuants } from './iq_qp_quants.ts';
import { GROUP_MAX_EPS, nearestInt } from './kquants_fit.ts';

const fr = Math.fround;
const QK_K = 256;
const K_MAX_Q = 3;
const EPS_IQ2_S = fr(1e-8);
const F0_1 = fr(0.1);
const F0_25 = fr(0.25);
const FUDGE_S = fr(0.9875);
const FLT_MAX = 3.4028234663852886e38;

const scales = new Float32Array(QK_K / 16);
const weight = new Float32Array(32);
const waux = new Float32Array(32);
const xval = new Float32Array(32);
const L = new Int8Array(32);
const Laux = new Int8Array(32);
const Lqp = new Uint8Array(32);
const onGrid = new Uint8Array(4);
const onGridAux = new Uint8Array(4);
const blockSigns = new Uint8Array(4);

/**
 * iq2_find_best_neighbour (8-element grids): the neighbour minimising
 * Σ w·(scale·q − x)² (first wins ties); its levels go to out[oo..oo+8).
 */
export function iq2FindBestNeighbour(
  t: LatticeTables, nb: Uint16Array, xv: Float32Array, xo: number, w: Float32Array, wo: number, scale: number,
  out: Int8Array, oo: number,
): number {
  const grid = t.grid;
  let best = FLT_MAX;
  let gi = -1;
  for (let j = 0; j < nb.length; j++) {
    const g = nb[j] * 8;
    let d2 = 0;
    for (let i = 0; i < 8; i++) {
      const diff = fr(fr(scale * grid[g + i]) - xv[xo + i]);
      d2 = fr(d2 + fr(fr(w[wo + i] * diff) * diff));
    }
    if (d2 < best) {
      best = d2;
      gi = nb[j];
    }
  }
  if (gi < 0) throw new Error('iq2_find_best_neighbour: no neighbour (NaN input?)');
  for (let i = 0; i < 8; i++) out[oo + i] = (grid[gi * 8 + i] - 1) >> 1;
  return gi;
}

function sigma2Of(x: Float32Array, xb: number, times2: boolean): number {
  let sumx2 = 0;
  for (let i = 0; i < QK_K; i++) sumx2 = fr(sumx2 + fr(x[xb + i] * x[xb + i]));
  return times2 ? fr(fr(2 * sumx2) / QK_K) : fr(sumx2 / QK_K);
}

/** weight (qw·sqrt(sigma2 + x²), or IQ2_S's 0.25·sigma2 + x²), waux = sqrt(weight), xval = |x|. */
function prepare(x: Float32Array, xo: number, n: number, qw: Float32Array | null, qo: number, sigma2: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[xo + i];
    weight[i] = qw ? fr(qw[qo + i] * fr(Math.sqrt(fr(sigma2 + fr(v * v))))) : fr(fr(F0_25 * sigma2) + fr(v * v));
    waux[i] = Math.sqrt(weight[i]);
    xval[i] = v >= 0 ? v : -v;
  }
}

/** Sign bits of the 8-groups; with `evenParity` the least important value of an odd group takes its sign back (7-bit signs). */
function signs(x: Float32Array, xo: number, groups: number, evenParity: boolean): void {
  for (let k = 0; k < groups; k++) {
    let nflip = 0;
    let s = 0;
    for (let i = 0; i < 8; i++) {
      if (!(x[xo + 8 * k + i] >= 0)) {
        nflip++;
        s |= 1 << i;
      }
    }
    if (evenParity && nflip % 2) {
      let imin = 0;
      let min = fr(fr(weight[8 * k] * x[xo + 8 * k]) * x[xo + 8 * k]);
      for (let i = 1; i < 8; i++) {
        const v = x[xo + 8 * k + i];
        const ax = fr(fr(weight[8 * k + i] * v) * v);
        if (ax < min) {
          min = ax;
          imin = i;
        }
      }
      xval[8 * k + imin] = -xval[8 * k + imin];
      s ^= 1 << imin;
    }
    blockSigns[k] = evenParity ? s & 127 : s;
  }
}

function sums(n: number, l: Int8Array): [number, number] {
  let sumqx = 0;
  let sumq2 = 0;
  for (let i = 0; i < n; i++) {
    const w = weight[i];
    const q = 2 * l[i] + 1;
    sumqx = fr(sumqx + fr(fr(w * xval[i]) * q));
    sumq2 = fr(sumq2 + fr(fr(w * q) * q));
  }
  return [sumqx, sumq2];
}

/** Levels of group k at scale 1/id (0..2) into dst; returns the key. */
function levels8(t: LatticeTables, id: number, k: number, dst: Int8Array): number {
  for (let i = 0; i < 8; i++) {
    const l = nearestInt(fr(0.5 * fr(fr(id * xval[8 * k + i]) - 1)));
    dst[8 * k + i] = l < 0 ? 0 : l > K_MAX_Q - 1 ? K_MAX_Q - 1 : l;
  }
  return latticeKey(t, dst, 8 * k);
}

/** Snap group k of L to the grid at `scale` (on the grid, or the best neighbour); returns the grid index. */
function snap(t: LatticeTables, k: number, id: number, scale: number): number {
  const u = levels8(t, id, k, L);
  const gi = t.map[u];
  return gi >= 0 ? gi : iq2FindBestNeighbour(t, neighboursOf(t, u), xval, 8 * k, waux, 8 * k, scale, L, 8 * k);
}

/**
 * The scale scan of the IQ2_XS/IQ2_S sub-block of 16 (two 8-groups): is ∈ [−9, 9]
 * around max/5, then off-grid groups re-snapped at the best scale. Levels in L.
 */
function fit16(t: LatticeTables, max: number): number {
  let best = 0;
  let scale = fr(max / (2 * K_MAX_Q - 1));
  onGrid[0] = onGrid[1] = 1;
  for (let is = -9; is <= 9; is++) {
    const id = fr(fr(2 * K_MAX_Q - 1 + fr(is * F0_1)) / max);
    const thisScale = fr(1 / id);
    for (let k = 0; k < 2; k++) {
      const u = levels8(t, id, k, Laux);
      onGridAux[k] = 1;
      if (t.map[u] < 0) {
        onGridAux[k] = 0;
        iq2FindBestNeighbour(t, neighboursOf(t, u), xval, 8 * k, waux, 8 * k, thisScale, Laux, 8 * k);
      }
    }
    const [sumqx, sumq2] = sums(16, Laux);
    if (sumq2 > 0 && fr(sumqx * sumqx) > fr(best * sumq2)) {
      scale = fr(sumqx / sumq2);
      best = fr(scale * sumqx);
      L.set(Laux.subarray(0, 16));
      onGrid[0] = onGridAux[0];
      onGrid[1] = onGridAux[1];
    }
  }
  if ((!onGrid[0] || !onGrid[1]) && scale > 0) {
    const id = fr(1 / scale);
    for (let k = 0; k < 2; k++) if (!onGrid[k]) snap(t, k, id, scale);
    const [sumqx, sumq2] = sums(16, L);
    if (sumq2 > 0) scale = fr(sumqx / sumq2);
  }
  return scale;
}

function scaleNibble(id: number, s: number): number {
  const l = nearestInt(fr(0.5 * fr(fr(id * s) - 1)));
  return l < 0 ? 0 : l > 15 ? 15 : l;
}

function gridIndex(t: LatticeTables, k: number, name: string): number {
  const gi = t.map[latticeKey(t, L, 8 * k)];
  if (gi < 0) throw new Error(`${name}: point not on grid`);
  return gi;
}

/** block_iq2_xxs (66 B): d, then per 32: u32 of 4 grid indices, u32 of 4 × 7 sign bits | scale << 28. */
export function quantizeRowIQ2XXS(x: Float32Array, xo: number, n: number, qw: Float32Array | null, out: Uint8Array, o0: number): void {
  if (!qw) throw new Error('IQ2_XXS: missing quantization weights');
  const t = latticeTables('iq2xxs');
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let ibl = 0; ibl < n / QK_K; ibl++) {
    const o = o0 + 66 * ibl;
    const xbl = xo + QK_K * ibl;
    out.fill(0, o, o + 66);
    let maxScale = 0;
    const sigma2 = sigma2Of(x, xbl, false);
    for (let ib = 0; ib < 8; ib++) {
      const xb = xbl + 32 * ib;
      prepare(x, xb, 32, qw, QK_K * ibl + 32 * ib, sigma2);
      signs(x, xb, 4, true);
      let max = xval[0];
      for (let i = 1; i < 32; i++) if (xval[i] > max) max = xval[i];
      if (max < GROUP_MAX_EPS) {
        scales[ib] = 0;
        L.fill(0);
        continue;
      }
      let scale = makeQpQuants(32, K_MAX_Q + 1, xval, Lqp, weight);
      for (let i = 0; i < 32; i++) L[i] = Lqp[i];
      const effMax = fr(scale * K_MAX_Q);
      if (effMax <= 0) {
        scales[ib] = 0;
        L.fill(0);
        continue;
      }
      let best = 0;
      for (let is = -6; is <= 6; is++) {
        const id = fr(fr(2 * K_MAX_Q - 1 + fr(is * F0_1)) / effMax);
        const thisScale = fr(1 / id);
        for (let k = 0; k < 4; k++) {
          const u = levels8(t, id, k, Laux);
          if (t.map[u] < 0) iq2FindBestNeighbour(t, neighboursOf(t, u), xval, 8 * k, waux, 8 * k, thisScale, Laux, 8 * k);
        }
        const [sumqx, sumq2] = sums(32, Laux);
        if (sumq2 > 0 && fr(sumqx * sumqx) > fr(best * sumq2)) {
          scale = fr(sumqx / sumq2);
          best = fr(scale * sumqx);
          L.set(Laux);
        }
      }
      if (scale > 0) {
        const id = fr(1 / scale);
        for (let k = 0; k < 4; k++) {
          const gi = snap(t, k, id, scale);
          for (let i = 0; i < 8; i++) L[8 * k + i] = (t.grid[gi * 8 + i] - 1) >> 1;
        }
        const [sumqx, sumq2] = sums(32, L);
        if (sumq2 > 0) scale = fr(sumqx / sumq2);
      }
      if (scale < 0) {
        scale = -scale;
        for (let k = 0; k < 4; k++) blockSigns[k] = ~blockSigns[k] & 127;
      }
      let q0 = 0;
      let q1 = 0;
      for (let k = 0; k < 4; k++) {
        q0 |= gridIndex(t, k, 'IQ2_XXS') << (8 * k);
        q1 |= blockSigns[k] << (7 * k);
      }
      dv.setUint32(o + 2 + 8 * ib, q0 >>> 0, true);
      dv.setUint32(o + 6 + 8 * ib, q1 >>> 0, true);
      scales[ib] = scale;
      if (scale > maxScale) maxScale = scale;
    }
    if (!maxScale) {
      out.fill(0, o, o + 66);
      continue;
    }
    const d = fr(maxScale / 31);
    writeU16(out, o, f32ToF16(d));
    const id = fr(1 / d);
    for (let ib = 0; ib < 8; ib++) {
      const p = o + 6 + 8 * ib;
      dv.setUint32(p, (dv.getUint32(p, true) | (scaleNibble(id, scales[ib]) << 28)) >>> 0, true);
    }
  }
}

/** block_iq2_xs (74 B): d, 32 × u16 (9-bit grid index | 7 sign bits << 9), 8 bytes of two 4-bit scales. */
export function quantizeRowIQ2XS(x: Float32Array, xo: number, n: number, qw: Float32Array | null, out: Uint8Array, o0: number): void {
  if (!qw) throw new Error('IQ2_XS: missing quantization weights');
  const t = latticeTables('iq2xs');
  for (let ibl = 0; ibl < n / QK_K; ibl++) {
    const o = o0 + 74 * ibl;
    const xbl = xo + QK_K * ibl;
    out.fill(0, o, o + 74);
    let maxScale = 0;
    const sigma2 = sigma2Of(x, xbl, false);
    for (let ib = 0; ib < 16; ib++) {
      const xb = xbl + 16 * ib;
      prepare(x, xb, 16, qw, QK_K * ibl + 16 * ib, sigma2);
      signs(x, xb, 2, true);
      let max = xval[0];
      for (let i = 1; i < 16; i++) if (xval[i] > max) max = xval[i];
      L.fill(0, 0, 16);
      if (max < GROUP_MAX_EPS) {
        scales[ib] = 0;
        continue;
      }
      let scale = fit16(t, max);
      if (scale < 0) {
        scale = -scale;
        for (let k = 0; k < 2; k++) blockSigns[k] = ~blockSigns[k] & 127;
      }
      for (let k = 0; k < 2; k++) writeU16(out, o + 2 + 2 * (2 * ib + k), (gridIndex(t, k, 'IQ2_XS') | (blockSigns[k] << 9)) & 0xffff);
      scales[ib] = scale;
      if (scale > maxScale) maxScale = scale;
    }
    if (!maxScale) {
      out.fill(0, o, o + 66);
      continue;
    }
    const d = fr(maxScale / 31);
    writeU16(out, o, f32ToF16(d));
    const id = fr(1 / d);
    for (let ib = 0; ib < 16; ib++) {
      const l = scaleNibble(id, scales[ib]);
      if (ib % 2 === 0) out[o + 66 + ib / 2] = l;
      else out[o + 66 + (ib >> 1)] |= l << 4;
    }
  }
}

/** block_iq2_s (82 B): d, qs[32] grid index low bytes, signs[32], qh[8] (2 high bits each), scales[8]. */
export function quantizeRowIQ2S(x: Float32Array, xo: number, n: number, qw: Float32Array | null, out: Uint8Array, o0: number): void {
  const t = latticeTables('iq2s');
  for (let ibl = 0; ibl < n / QK_K; ibl++) {
    const o = o0 + 82 * ibl;
    const xbl = xo + QK_K * ibl;
    out.fill(0, o, o + 82);
    let maxScale = 0;
    const sigma2 = sigma2Of(x, xbl, true);
    for (let ib = 0; ib < 16; ib++) {
      const xb = xbl + 16 * ib;
      prepare(x, xb, 16, qw, QK_K * ibl + 16 * ib, sigma2);
      signs(x, xb, 2, false);
      let max = xval[0];
      for (let i = 1; i < 16; i++) if (xval[i] > max) max = xval[i];
      L.fill(0, 0, 16);
      if (max < EPS_IQ2_S) {
        scales[ib] = 0;
        continue;
      }
      let scale = fit16(t, max);
      if (scale < 0) {
        scale = -scale;
        for (let k = 0; k < 2; k++) blockSigns[k] = ~blockSigns[k] & 255;
      }
      for (let k = 0; k < 2; k++) {
        const gi = gridIndex(t, k, 'IQ2_S');
        const i8 = 2 * ib + k;
        out[o + 2 + i8] = gi & 255;
        out[o + 66 + (i8 >> 2)] |= (gi >> 8) << (2 * (i8 % 4));
        out[o + 34 + i8] = blockSigns[k];
      }
      scales[ib] = scale;
      if (scale > maxScale) maxScale = scale;
    }
    if (!maxScale) continue;
    const d = fr(maxScale / 31);
    writeU16(out, o, f32ToF16(fr(d * FUDGE_S)));
    const id = fr(1 / d);
    for (let ib = 0; ib < 16; ib++) {
      const l = scaleNibble(id, scales[ib]);
      if (ib % 2 === 0) out[o + 74 + ib / 2] = l;
      else out[o + 74 + (ib >> 1)] |= l << 4;
    }
  }
}
