// llama.cpp's IQ1_S and IQ1_M quantizers, ported from ggml-quants.c
// quantize_row_iq1_s_impl (sub-blocks of IQ1S_BLOCK_SIZE = 32) and
// quantize_row_iq1_m_impl (IQ1M_BLOCK_SIZE = 16, per-half prefix sums), with
// iq1_find_best_neighbour2, so the bytes equal llama.cpp's. f32 arithmetic as
// in C (Math.fround at every step, left to right). The values of a sub-block
// are ordered as C's qsort with iq1_sort_helper orders them: by value, and —
// glibc's qsort being a stable merge sort for arrays this small — equal values
// (±0 included) keep their original order; a stable insertion sort here.
// Weights: qw·sqrt(sigma2 + x²), sigma2 = 2·Σx²/256; IQ1_S requires an
// importance matrix, IQ1_M falls back to x².
import { f32ToF16, writeU16 } from '../f16.ts';
import { latticeKey, latticeTables, neighboursOf, type LatticeTables } from './iq_grid_init.ts';
import { nearestInt } from './kquants_fit.ts';

const fr = Math.fround;
const QK_K = 256;
const FLT_MAX = 3.4028234663852886e38;
const EPS_IQ1_S = fr(1e-12);
const EPS_IQ1_M = fr(1e-7);
const DELTA = 0.125; // IQ1S_DELTA = IQ1M_DELTA
const X_P = Float32Array.of(-1 + DELTA, DELTA, 1 + DELTA);
const X_M = Float32Array.of(-1 - DELTA, -DELTA, 1 - DELTA);
const FUDGE_S = fr(1.125);
const FUDGE_M = fr(1.1125);
const M_MASKS = [0x00, 0x80, 0x08, 0x88];

const scales = new Float32Array(QK_K / 16);
const shifts = new Int8Array(QK_K / 16);
const weight = new Float32Array(32);
const sumx = new Float32Array(33);
const sumw = new Float32Array(33);
const px = [new Float32Array(17), new Float32Array(17)];
const pw = [new Float32Array(17), new Float32Array(17)];
const idx = new Int32Array(32);
const L = new Int8Array(32);
const index = new Uint16Array(4);

function sigma2Of(x: Float32Array, xb: number): number {
  let sumx2 = 0;
  for (let i = 0; i < QK_K; i++) sumx2 = fr(sumx2 + fr(x[xb + i] * x[xb + i]));
  return fr(fr(2 * sumx2) / QK_K);
}

function setWeights(x: Float32Array, xb: number, n: number, qw: Float32Array | null, qo: number, sigma2: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[xb + i];
    weight[i] = qw ? fr(qw[qo + i] * fr(Math.sqrt(fr(sigma2 + fr(v * v))))) : fr(v * v);
  }
}

/** idx[0..n) = positions of x[xb..xb+n) in ascending value order, ties in position order (stable). */
function sortIdx(x: Float32Array, xb: number, n: number): void {
  for (let j = 0; j < n; j++) {
    const v = x[xb + j];
    let k = j;
    while (k > 0 && x[xb + idx[k - 1]] > v) {
      idx[k] = idx[k - 1];
      k--;
    }
    idx[k] = j;
  }
}

/**
 * iq1_find_best_neighbour2: the neighbour minimising Σ w·(scale·xx[l] − x)²
 * (first wins ties); its levels go to L[lo..lo+8).
 */
function iq1FindBestNeighbour2(t: LatticeTables, nb: Uint16Array, x: Float32Array, xo: number, wo: number, scale: number, xx: Float32Array, lo: number): number {
  const grid = t.grid;
  let best = FLT_MAX;
  let gi = -1;
  for (let j = 0; j < nb.length; j++) {
    const g = nb[j] * 8;
    let d2 = 0;
    for (let i = 0; i < 8; i++) {
      const diff = fr(fr(scale * xx[(grid[g + i] - 1) >> 1]) - x[xo + i]);
      d2 = fr(d2 + fr(fr(weight[wo + i] * diff) * diff));
    }
    if (d2 < best) {
      best = d2;
      gi = nb[j];
    }
  }
  // C then scans the whole grid (reading past xval: undefined behaviour); only reachable with NaN or inf input.
  if (gi < 0) throw new Error('iq1_find_best_neighbour2: no grid point found (NaN or infinite input?)');
  for (let i = 0; i < 8; i++) L[lo + i] = (grid[gi * 8 + i] - 1) >> 1;
  return gi;
}

/** Grid indices of the n/8 groups of L (neighbour-snapped where off the grid); returns whether all were on it. */
function snapGroups(t: LatticeTables, x: Float32Array, xb: number, n: number, scale: number, xxOf: (k: number) => Float32Array): boolean {
  let allOnGrid = true;
  for (let k = 0; k < n / 8; k++) {
    const u = latticeKey(t, L, 8 * k);
    let gi = t.map[u];
    if (gi < 0) {
      allOnGrid = false;
      gi = iq1FindBestNeighbour2(t, neighboursOf(t, u), x, xb + 8 * k, 8 * k, scale, xxOf(k), 8 * k);
    }
    index[k] = gi;
  }
  return allOnGrid;
}

/** Σ w·q·x and Σ w·q² with q = xx_k[level of grid entry index[k]], over the n/8 groups. */
function refit(t: LatticeTables, x: Float32Array, xb: number, n: number, scale: number, xxOf: (k: number) => Float32Array): number {
  let sqx = 0;
  let sq2 = 0;
  for (let k = 0; k < n / 8; k++) {
    const xx = xxOf(k);
    const g = index[k] * 8;
    for (let j = 0; j < 8; j++) {
      const w = weight[8 * k + j];
      const q = xx[(t.grid[g + j] - 1) >> 1];
      sqx = fr(sqx + fr(fr(w * q) * x[xb + 8 * k + j]));
      sq2 = fr(sq2 + fr(fr(w * q) * q));
    }
  }
  return sqx > 0 && sq2 > 0 ? fr(sqx / sq2) : scale;
}

/** Levels 0/1/2 by sorted rank against the split points i1 ≤ i2. */
function assignLevels(n: number, i1: number, i2: number): void {
  for (let j = 0; j < n; j++) L[idx[j]] = j < i1 ? 0 : j < i2 ? 1 : 2;
}

let xxS: Float32Array = X_P;
const xxSOf = () => xxS;

/** block_iq1_s (50 B): d, qs[32] grid index low bytes, qh u16[8] (3 × 3 high bits, 3-bit scale << 12, delta sign << 15). */
export function quantizeRowIQ1S(x: Float32Array, xo: number, n: number, qw: Float32Array | null, out: Uint8Array, o0: number): void {
  if (!qw) throw new Error('IQ1_S: missing quantization weights');
  const t = latticeTables('iq1s');
  for (let ibl = 0; ibl < n / QK_K; ibl++) {
    const o = o0 + 50 * ibl;
    const xbl = xo + QK_K * ibl;
    out.fill(0, o, o + 50);
    let maxScale = 0;
    const sigma2 = sigma2Of(x, xbl);
    for (let ib = 0; ib < 8; ib++) {
      const xb = xbl + 32 * ib;
      setWeights(x, xb, 32, qw, QK_K * ibl + 32 * ib, sigma2);
      let max = Math.abs(x[xb]);
      for (let i = 1; i < 32; i++) max = max > Math.abs(x[xb + i]) ? max : Math.abs(x[xb + i]);
      if (max < EPS_IQ1_S) {
        scales[ib] = 0;
        shifts[ib] = 1;
        continue;
      }
      sortIdx(x, xb, 32);
      sumx[0] = sumw[0] = 0;
      for (let j = 0; j < 32; j++) {
        const i = idx[j];
        sumx[j + 1] = sumx[j] + fr(weight[i] * x[xb + i]);
        sumw[j + 1] = sumw[j] + weight[i];
      }
      let best = -FLT_MAX;
      let scale = max;
      let bi1 = -1;
      let bi2 = -1;
      let bestShift = 0;
      const tx = sumx[32];
      const tw = sumw[32];
      for (let i1 = 0; i1 <= 32; i1++) {
        const a = fr(sumx[i1] - sumx[0]);
        const aw = fr(sumw[i1] - sumw[0]);
        for (let i2 = i1; i2 <= 32; i2++) {
          const b = fr(sumx[i2] - sumx[i1]);
          const c = fr(tx - sumx[i2]);
          const bw = fr(sumw[i2] - sumw[i1]);
          const cw = fr(tw - sumw[i2]);
          let sqx = fr(fr(fr(a * X_P[0]) + fr(b * X_P[1])) + fr(c * X_P[2]));
          let sq2 = fr(fr(fr(fr(aw * X_P[0]) * X_P[0]) + fr(fr(bw * X_P[1]) * X_P[1])) + fr(fr(cw * X_P[2]) * X_P[2]));
          if (sq2 > 0 && fr(sqx * sqx) > fr(best * sq2)) {
            scale = fr(sqx / sq2);
            best = fr(scale * sqx);
            bi1 = i1;
            bi2 = i2;
            bestShift = 1;
          }
          sqx = fr(fr(fr(a * X_M[0]) + fr(b * X_M[1])) + fr(c * X_M[2]));
          sq2 = fr(fr(fr(fr(aw * X_M[0]) * X_M[0]) + fr(fr(bw * X_M[1]) * X_M[1])) + fr(fr(cw * X_M[2]) * X_M[2]));
          if (sq2 > 0 && fr(sqx * sqx) > fr(best * sq2)) {
            scale = fr(sqx / sq2);
            best = fr(scale * sqx);
            bi1 = i1;
            bi2 = i2;
            bestShift = -1;
          }
        }
      }
      if (bi1 < 0 || bi2 < 0 || bestShift === 0) {
        scales[ib] = 0;
        shifts[ib] = 1;
        continue;
      }
      assignLevels(32, bi1, bi2);
      if (scale < 0) {
        for (let j = 0; j < 32; j++) L[j] = 2 - L[j];
        scale = -scale;
        bestShift = -bestShift;
      }
      xxS = bestShift === 1 ? X_P : X_M;
      if (!snapGroups(t, x, xb, 32, scale, xxSOf)) scale = refit(t, x, xb, 32, scale, xxSOf);
      let h = 0;
      for (let k = 0; k < 4; k++) {
        out[o + 2 + 4 * ib + k] = index[k] & 255;
        h |= (index[k] >> 8) << (3 * k);
      }
      writeU16(out, o + 34 + 2 * ib, h);
      scales[ib] = scale;
      shifts[ib] = bestShift;
      if (scale > maxScale) maxScale = scale;
    }
    if (!maxScale) continue;
    const d = fr(maxScale / 15);
    writeU16(out, o, f32ToF16(fr(d * FUDGE_S)));
    const id = fr(1 / d);
    for (let ib = 0; ib < 8; ib++) {
      let l = nearestInt(fr(0.5 * fr(fr(id * scales[ib]) - 1)));
      l = l < 0 ? 0 : l > 7 ? 7 : l;
      if (shifts[ib] === -1) l |= 8;
      const p = o + 34 + 2 * ib;
      writeU16(out, p, (out[p] | (out[p + 1] << 8) | (l << 12)) & 0xffff);
    }
  }
}

let bestKM = 0;
const xxMOf = (k: number) => (k === 0 ? (bestKM < 2 ? X_P : X_M) : bestKM % 2 === 0 ? X_P : X_M);

const CP1 = fr(fr(X_P[0] * X_P[0]) - fr(X_P[1] * X_P[1]));
const CP2 = fr(fr(X_P[1] * X_P[1]) - fr(X_P[2] * X_P[2]));
const CM1 = fr(fr(X_M[0] * X_M[0]) - fr(X_M[1] * X_M[1]));
const CM2 = fr(fr(X_M[1] * X_M[1]) - fr(X_M[2] * X_M[2]));
const qxP = new Float32Array(2);
const qxM = new Float32Array(2);
const q2P = new Float32Array(2);
const q2M = new Float32Array(2);
const sqxK = new Float32Array(4);
const sq2K = new Float32Array(4);

/**
 * block_iq1_m (56 B): qs[32] grid index low bytes, qh[16] (two 3-bit high parts
 * and delta signs 0x08/0x80), scales as u16[4] (4 × 3-bit sub-scales each, the
 * f16 super-scale's nibbles in the top 4 bits).
 */
export function quantizeRowIQ1M(x: Float32Array, xo: number, n: number, qw: Float32Array | null, out: Uint8Array, o0: number): void {
  const t = latticeTables('iq1s');
  const P2 = X_P[2];
  const M2 = X_M[2];
  for (let ibl = 0; ibl < n / QK_K; ibl++) {
    const o = o0 + 56 * ibl;
    const xbl = xo + QK_K * ibl;
    out.fill(0, o, o + 56);
    let maxScale = 0;
    const sigma2 = sigma2Of(x, xbl);
    for (let ib = 0; ib < 16; ib++) {
      const xb = xbl + 16 * ib;
      setWeights(x, xb, 16, qw, QK_K * ibl + 16 * ib, sigma2);
      let max = Math.abs(x[xb]);
      for (let i = 1; i < 16; i++) max = max > Math.abs(x[xb + i]) ? max : Math.abs(x[xb + i]);
      if (max < EPS_IQ1_M) {
        scales[ib] = 0;
        shifts[ib] = 0;
        continue;
      }
      sortIdx(x, xb, 16);
      px[0][0] = px[1][0] = pw[0][0] = pw[1][0] = 0;
      for (let j = 0; j < 16; j++) {
        const i = idx[j];
        const h = i < 8 ? 0 : 1;
        px[h][j + 1] = px[h][j] + fr(weight[i] * x[xb + i]);
        px[1 - h][j + 1] = px[1 - h][j];
        pw[h][j + 1] = pw[h][j] + weight[i];
        pw[1 - h][j + 1] = pw[1 - h][j];
      }
      let best = -FLT_MAX;
      let scale = max;
      let bi1 = -1;
      let bi2 = -1;
      let bestK = -1;
      for (let i1 = 0; i1 <= 16; i1++) {
        for (let i2 = i1; i2 <= 16; i2++) {
          for (let h = 0; h < 2; h++) {
            const sx = fr(px[h][i1] + px[h][i2]);
            const txs = px[h][16];
            const tws = pw[h][16];
            qxP[h] = fr(txs * P2) - sx;
            qxM[h] = fr(txs * M2) - sx;
            q2P[h] = fr(fr(fr(tws * P2) * P2) + fr(pw[h][i1] * CP1)) + fr(pw[h][i2] * CP2);
            q2M[h] = fr(fr(fr(tws * M2) * M2) + fr(pw[h][i1] * CM1)) + fr(pw[h][i2] * CM2);
          }
          sqxK[0] = qxP[0] + qxP[1];
          sqxK[1] = qxP[0] + qxM[1];
          sqxK[2] = qxM[0] + qxP[1];
          sqxK[3] = qxM[0] + qxM[1];
          sq2K[0] = q2P[0] + q2P[1];
          sq2K[1] = q2P[0] + q2M[1];
          sq2K[2] = q2M[0] + q2P[1];
          sq2K[3] = q2M[0] + q2M[1];
          for (let k = 0; k < 4; k++) {
            const sqx = sqxK[k];
            const sq2 = sq2K[k];
            if (sq2 > 0 && fr(sqx * sqx) > fr(best * sq2)) {
              scale = fr(sqx / sq2);
              best = fr(scale * sqx);
              bi1 = i1;
              bi2 = i2;
              bestK = k;
            }
          }
        }
      }
      if (bi1 < 0 || bi2 < 0 || bestK < 0) {
        scales[ib] = 0;
        shifts[ib] = 0;
        continue;
      }
      assignLevels(16, bi1, bi2);
      if (scale < 0) {
        for (let j = 0; j < 16; j++) L[j] = 2 - L[j];
        scale = -scale;
        bestK = 3 - bestK;
      }
      bestKM = bestK;
      if (!snapGroups(t, x, xb, 16, scale, xxMOf)) scale = refit(t, x, xb, 16, scale, xxMOf);
      out[o + 2 * ib] = index[0] & 255;
      out[o + 2 * ib + 1] = index[1] & 255;
      out[o + 32 + ib] = (index[0] >> 8) | ((index[1] >> 8) << 4);
      scales[ib] = scale;
      shifts[ib] = bestK;
      if (scale > maxScale) maxScale = scale;
    }
    if (!maxScale) continue;
    const sc = o + 48;
    let d = fr(maxScale / 15);
    const id = fr(1 / d);
    let sqx = 0;
    let sq2 = 0;
    for (let ib = 0; ib < 16; ib++) {
      let l = nearestInt(fr(0.5 * fr(fr(id * scales[ib]) - 1)));
      l = l < 0 ? 0 : l > 7 ? 7 : l;
      const p = sc + 2 * (ib >> 2);
      writeU16(out, p, (out[p] | (out[p + 1] << 8) | (l << (3 * (ib % 4)))) & 0xffff);
      out[o + 32 + ib] |= M_MASKS[shifts[ib]];
      const xb = xbl + 16 * ib;
      setWeights(x, xb, 16, qw, QK_K * ibl + 16 * ib, sigma2);
      const qh = out[o + 32 + ib];
      for (let k = 0; k < 2; k++) {
        const xx = k === 0 ? (shifts[ib] < 2 ? X_P : X_M) : shifts[ib] % 2 === 0 ? X_P : X_M;
        const g = (out[o + 2 * ib + k] + ((qh << (8 - 4 * k)) & 0x700)) * 8;
        for (let j = 0; j < 8; j++) {
          const w = weight[8 * k + j];
          const q = fr(xx[(t.grid[g + j] - 1) >> 1] * (2 * l + 1));
          sqx = fr(sqx + fr(fr(w * q) * x[xb + 8 * k + j]));
          sq2 = fr(sq2 + fr(fr(w * q) * q));
        }
      }
    }
    if (sq2 > 0) d = fr(sqx / sq2);
    const s = f32ToF16(fr(d * FUDGE_M));
    const or16 = (p: number, v: number) => writeU16(out, p, (out[p] | (out[p + 1] << 8) | v) & 0xffff);
    or16(sc, (s & 0x000f) << 12);
    or16(sc + 2, (s & 0x00f0) << 8);
    or16(sc + 4, (s & 0x0f00) << 4);
    or16(sc + 6, s & 0xf000);
  }
}
