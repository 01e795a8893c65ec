// llama.cpp's IQ3_XXS and IQ3_S quantizers, ported from ggml-quants.c
// quantize_row_iq3_xxs_impl (grid 256) and quantize_row_iq3_s_impl (grid 512,
// block_size IQ3S_BLOCK_SIZE = 32), with iq3_find_best_neighbour, so the bytes
// equal llama.cpp's. All arithmetic is f32 as in C: Math.fround at every step
// in C's left-to-right order (a*b*c is (a*b)*c). Weights: qw·sqrt(sigma2 + x²),
// sigma2 = 2·Σx²/256, or x² without an importance matrix.
import { f32ToF16, writeU16 } from '../f16.ts';
import { latticeKey, latticeTables, neighboursOf, type LatticeTables } from './iq_grid_init.ts';
import { nearestInt } from './kquants_fit.ts';

const fr = Math.fround;
const QK_K = 256;
const K_MAX_Q = 8;
const EPS_IQ3_XXS = fr(1e-8);
const F0_2 = fr(0.2);
const FUDGE_XXS = fr(1.0125);
const FUDGE_S = fr(1.033);

const scales = new Float32Array(QK_K / 32);
const weight = new Float32Array(32);
const waux = new Float32Array(32);
const xval = new Float32Array(32);
const L = new Int8Array(32);
const Laux = new Int8Array(32);
const onGrid = new Uint8Array(8);
const onGridAux = new Uint8Array(8);
const blockSigns = new Uint8Array(4);

/**
 * iq3_find_best_neighbour: among the neighbours of an off-grid key, the entry
 * minimising Σ w·(scale·q − x)² (first wins ties); writes its levels to out[oo..oo+4).
 */
export function iq3FindBestNeighbour(
  t: LatticeTables, nb: Uint16Array, xv: Float32Array, xo: number, w: Float32Array, wo: number, scale: number,
  out: Int8Array, oo: number,
): number {
  const grid = t.grid;
  let best = 3.4028234663852886e38; // FLT_MAX
  let gi = -1;
  for (let j = 0; j < nb.length; j++) {
    const g = nb[j] * 4;
    let d2 = 0;
    for (let i = 0; i < 4; i++) {
      const diff = fr(fr(scale * grid[g + i]) - xv[xo + i]);
      d2 = fr(d2 + fr(fr(w[wo + i] * diff) * diff));
    }
    if (d2 < best) {
      best = d2;
      gi = nb[j];
    }
  }
  if (gi < 0) throw new Error('iq3_find_best_neighbour: no neighbour (NaN input?)');
  for (let i = 0; i < 4; i++) out[oo + i] = (t.grid[gi * 4 + i] - 1) >> 1;
  return gi;
}

/** Σ w·x·q and Σ w·q² over the 32 values with q = 2·l + 1. */
function sums(l: Int8Array): [number, number] {
  let sumqx = 0;
  let sumq2 = 0;
  for (let i = 0; i < 32; i++) {
    const w = weight[i];
    const q = 2 * l[i] + 1;
    sumqx = fr(sumqx + fr(fr(w * xval[i]) * q));
    sumq2 = fr(sumq2 + fr(fr(w * q) * q));
  }
  return [sumqx, sumq2];
}

/** Levels of 4 values at scale 1/id, clamped to 0..7, into dst[o..o+4); returns their key. */
function levels4(t: LatticeTables, id: number, k: number, dst: Int8Array): number {
  for (let i = 0; i < 4; i++) {
    const l = nearestInt(fr(0.5 * fr(fr(id * xval[4 * k + i]) - 1)));
    dst[4 * k + i] = l < 0 ? 0 : l > K_MAX_Q - 1 ? K_MAX_Q - 1 : l;
  }
  return latticeKey(t, dst, 4 * k);
}

/**
 * The shared sub-block search of both impls for the 32 values at x[xo..]: the
 * scale scan over is ∈ [−isMax, isMax], then the re-fit of off-grid groups
 * (all groups for IQ3_S, only the off-grid ones for IQ3_XXS). Leaves levels in L
 * and returns the scale.
 */
function fitSubBlock(t: LatticeTables, max: number, isMax: number, refitAll: boolean): number {
  let best = 0;
  let scale = fr(max / (2 * K_MAX_Q - 1));
  onGrid.fill(refitAll ? 0 : 1);
  for (let is = -isMax; is <= isMax; is++) {
    const id = fr(fr(2 * K_MAX_Q - 1 + fr(is * F0_2)) / max);
    const thisScale = fr(1 / id);
    for (let k = 0; k < 8; k++) {
      const u = levels4(t, id, k, Laux);
      onGridAux[k] = 1;
      if (t.map[u] < 0) {
        onGridAux[k] = 0;
        iq3FindBestNeighbour(t, neighboursOf(t, u), xval, 4 * k, waux, 4 * k, thisScale, Laux, 4 * k);
      }
    }
    const [sumqx, sumq2] = sums(Laux);
    if (sumq2 > 0 && fr(sumqx * sumqx) > fr(best * sumq2)) {
      scale = fr(sumqx / sumq2);
      best = fr(scale * sumqx);
      L.set(Laux);
      onGrid.set(onGridAux);
    }
  }
  let nOff = 0;
  for (let k = 0; k < 8; k++) if (!onGrid[k]) nOff++;
  if (nOff > 0 && scale > 0) {
    const id = fr(1 / scale);
    for (let k = 0; k < 8; k++) {
      if (!refitAll && onGrid[k]) continue;
      const u = levels4(t, id, k, L);
      let gi = t.map[u];
      if (gi < 0) gi = iq3FindBestNeighbour(t, neighboursOf(t, u), xval, 4 * k, waux, 4 * k, scale, L, 4 * k);
      for (let i = 0; i < 4; i++) L[4 * k + i] = (t.grid[gi * 4 + i] - 1) >> 1;
    }
    const [sumqx, sumq2] = sums(L);
    if (sumq2 > 0) scale = fr(sumqx / sumq2);
  }
  return scale;
}

/** sigma2 = 2·Σx²/256 of the super-block at x[xb..]. */
function sigma2Of(x: Float32Array, xb: number): number {
  let sumx2 = 0;
  for (let i = 0; i < QK_K; i++) sumx2 = fr(sumx2 + fr(x[xb + i] * x[xb + i]));
  return fr(fr(2 * sumx2) / QK_K);
}

/** weight, waux and the magnitudes xval of the 32 values at x[xo..]; qw[qo..] the importance weights or null. */
function prepare(x: Float32Array, xo: number, qw: Float32Array | null, qo: number, sigma2: number): void {
  for (let i = 0; i < 32; i++) {
    const v = x[xo + i];
    weight[i] = qw ? fr(qw[qo + i] * fr(Math.sqrt(fr(sigma2 + fr(v * v))))) : fr(v * v);
    waux[i] = Math.sqrt(weight[i]); // Float32Array store rounds: sqrtf
    xval[i] = v >= 0 ? v : -v;
  }
}

/** block_iq3_xxs (98 B): d, 64 grid indices, 8 × u32 (4 × 7 sign bits, 4-bit scale). One row of n values. */
export function quantizeRowIQ3XXS(x: Float32Array, xo: number, n: number, qw: Float32Array | null, out: Uint8Array, o0: number): void {
  const t = latticeTables('iq3xxs');
  const nbl = n / QK_K;
  const ss = new Uint32Array(8);
  for (let ibl = 0; ibl < nbl; ibl++) {
    const o = o0 + 98 * ibl;
    const xbl = xo + QK_K * ibl;
    out.fill(0, o, o + 98);
    ss.fill(0);
    let maxScale = 0;
    const sigma2 = sigma2Of(x, xbl);
    for (let ib = 0; ib < 8; ib++) {
      const xb = xbl + 32 * ib;
      prepare(x, xb, qw, QK_K * ibl + 32 * ib, sigma2);
      for (let k = 0; k < 4; k++) {
        let nflip = 0;
        let s = 0;
        for (let i = 0; i < 8; i++) {
          if (!(x[xb + 8 * k + i] >= 0)) {
            nflip++;
            s |= 1 << i;
          }
        }
        if (nflip % 2) {
          let imin = 0;
          let min = fr(fr(weight[8 * k] * x[xb + 8 * k]) * x[xb + 8 * k]);
          for (let i = 1; i < 8; i++) {
            const v = x[xb + 8 * k + i];
            const ax = fr(fr(weight[8 * k + i] * v) * v);
            if (ax < min) {
              min = ax;
              imin = i;
            }
          }
          xval[8 * k + imin] = -xval[8 * k + imin];
          s ^= 1 << imin;
        }
        blockSigns[k] = s & 127;
      }
      let max = xval[0];
      for (let i = 1; i < 32; i++) if (xval[i] > max) max = xval[i];
      L.fill(0);
      if (max < EPS_IQ3_XXS) {
        scales[ib] = 0;
        continue;
      }
      let scale = fitSubBlock(t, max, 15, false);
      if (scale < 0) {
        scale = -scale;
        for (let k = 0; k < 4; k++) blockSigns[k] = ~blockSigns[k] & 127;
      }
      for (let k = 0; k < 8; k++) {
        const gi = t.map[latticeKey(t, L, 4 * k)];
        if (gi < 0) throw new Error(`IQ3_XXS: point not on grid`);
        out[o + 2 + 8 * ib + k] = gi;
      }
      ss[ib] = blockSigns[0] | (blockSigns[1] << 7) | (blockSigns[2] << 14) | (blockSigns[3] << 21);
      scales[ib] = scale;
      if (scale > maxScale) maxScale = scale;
    }
    if (!maxScale) {
      out.fill(0, o, o + 98);
      continue;
    }
    const d = fr(maxScale / 31);
    writeU16(out, o, f32ToF16(fr(d * FUDGE_XXS)));
    const id = fr(1 / d);
    for (let ib = 0; ib < 8; ib++) {
      let l = nearestInt(fr(0.5 * fr(fr(id * scales[ib]) - 1)));
      l = l < 0 ? 0 : l > 15 ? 15 : l;
      const v = (ss[ib] | (l << 28)) >>> 0;
      const p = o + 66 + 4 * ib;
      out[p] = v & 255;
      out[p + 1] = (v >>> 8) & 255;
      out[p + 2] = (v >>> 16) & 255;
      out[p + 3] = v >>> 24;
    }
  }
}

/**
 * block_iq3_s (110 B): d, qs[64], qh[8], signs[32], scales[4]. As in C, the qs
 * and signs cursors advance only past sub-blocks that are not all zero.
 */
export function quantizeRowIQ3S(x: Float32Array, xo: number, n: number, qw: Float32Array | null, out: Uint8Array, o0: number): void {
  const t = latticeTables('iq3s');
  const nbl = n / QK_K;
  for (let ibl = 0; ibl < nbl; ibl++) {
    const o = o0 + 110 * ibl;
    const xbl = xo + QK_K * ibl;
    out.fill(0, o, o + 110);
    let qs = o + 2;
    const qh = o + 66;
    let signs = o + 74;
    let maxScale = 0;
    const sigma2 = sigma2Of(x, xbl);
    for (let ib = 0; ib < 8; ib++) {
      const xb = xbl + 32 * ib;
      prepare(x, xb, qw, QK_K * ibl + 32 * ib, sigma2);
      for (let k = 0; k < 4; k++) {
        let s = 0;
        for (let i = 0; i < 8; i++) if (!(x[xb + 8 * k + i] >= 0)) s |= 1 << i;
        blockSigns[k] = s;
      }
      let max = xval[0];
      for (let i = 1; i < 32; i++) if (xval[i] > max) max = xval[i];
      L.fill(0);
      if (!max) {
        scales[ib] = 0;
        continue;
      }
      let scale = fitSubBlock(t, max, 9, true);
      if (scale < 0) {
        scale = -scale;
        for (let k = 0; k < 4; k++) blockSigns[k] = ~blockSigns[k] & 255;
      }
      for (let k = 0; k < 8; k++) {
        const gi = t.map[latticeKey(t, L, 4 * k)];
        if (gi < 0) throw new Error(`IQ3_S: point not on grid`);
        out[qs + k] = gi & 255;
        out[qh + ((ib * 8 + k) >> 3)] |= (gi >> 8) << ((ib * 8 + k) & 7);
      }
      qs += 8;
      for (let k = 0; k < 4; k++) out[signs + k] = blockSigns[k];
      signs += 4;
      scales[ib] = scale;
      if (scale > maxScale) maxScale = scale;
    }
    if (!maxScale) continue;
    const d = fr(maxScale / 31);
    writeU16(out, o, f32ToF16(fr(d * FUDGE_S)));
    const id = fr(1 / d);
    for (let ib = 0; ib < 8; ib += 2) {
      let l1 = nearestInt(fr(0.5 * fr(fr(id * scales[ib]) - 1)));
      l1 = l1 < 0 ? 0 : l1 > 15 ? 15 : l1;
      let l2 = nearestInt(fr(0.5 * fr(fr(id * scales[ib + 1]) - 1)));
      l2 = l2 < 0 ? 0 : l2 > 15 ? 15 : l2;
      out[o + 106 + ib / 2] = l1 | (l2 << 4);
    }
  }
}
