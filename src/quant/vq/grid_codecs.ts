// Codecs of the lattice-grid i-quants (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S,
// IQ3_XXS, IQ3_S): ggml blocks ⇄ VqTensor, losslessly (formats-2.md §1.2–1.3).
//   type     table (entries × dim)      signs                 group  sub-scale multiplier a(s)
//   IQ2_XXS  iq2xxs (256 × 8)           7-bit ksigns, parity  32     (0.5 + s)·0.25, s ∈ 0..15
//   IQ2_XS   iq2xs (512 × 8)            7-bit ksigns, parity  16     (0.5 + s)·0.25
//   IQ2_S    iq2s (1024 × 8)            explicit bytes        16     (0.5 + s)·0.25
//   IQ3_XXS  iq3xxs (256 × 4)           7-bit ksigns, parity  32     (0.5 + s)·0.5
//   IQ3_S    iq3s (512 × 4)             explicit bytes        32     1 + 2s
//   IQ1_S    iq1s ± 1/8 (4096 × 8)      none                  32     1 + 2s, s ∈ 0..7
//   IQ1_M    iq1s ± 1/8 (4096 × 8)      none                  16     1 + 2s, s ∈ 0..7
// Each group's scale is round_f32(d·a(s)) with d the block's fp16 scale: the
// value ggml computes (d·(0.5+s) has at most 16 significant bits, so the extra
// ·0.25 / ·0.5 rounds nothing). IQ1's ±1/8 delta is folded into the table
// (entries 2048.. are grid − 1/8), see vqtensor.ts; IQ1_S stores one delta bit
// per 32 weights, so encode requires the four indices of a sub-block to agree.
// Blocks are decoded one at a time into a small scratch of indices, sign words
// (one u32 per 32 weights: 4 sign bytes) and sub-scales (each type's layout:
// grid_layouts.ts), then packed by words.
import { f16ToF32, f32ToF16 } from '../f16.ts';
import { GgmlType } from '../formats.ts';
import { IQ1_DELTA, iqGrid, type IqGridName } from '../blocks/iq_grids.ts';
import { QK, SPECS, type GridSpec, type Scratch } from './grid_layouts.ts';
import { superblockParametrization, type Parametrization } from '../parametrize.ts';
import type { VqCodec, VqOrigin } from './codec.ts';
import { emptyVqTensor, vqIndexWords, vqWordsPerRow, type Codebook, type VqTensor } from './vqtensor.ts';


const books = new Map<IqGridName, Codebook>();

/** The VqTensor codebook of a grid: its values as f32; iq1s doubled to 4096 entries with the ±1/8 delta folded in. */
export function gridCodebook(name: IqGridName): Codebook {
  let b = books.get(name);
  if (b) return b;
  const g = iqGrid(name);
  const dim = name === 'iq3xxs' || name === 'iq3s' ? 4 : 8;
  let values: Float32Array;
  if (name === 'iq1s') {
    values = new Float32Array(2 * g.length);
    for (let i = 0; i < g.length; i++) {
      values[i] = g[i] + IQ1_DELTA;
      values[g.length + i] = g[i] - IQ1_DELTA;
    }
  } else values = Float32Array.from(g);
  b = { name, dim, size: values.length / dim, values };
  books.set(name, b);
  return b;
}

function geometry(spec: GridSpec, bytesLength: number, rows: number, cols: number): number {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) throw new RangeError(`${spec.name}: bad shape [${rows}, ${cols}]`);
  if (cols % QK !== 0) throw new RangeError(`${spec.name}: row length ${cols} is not a multiple of the block size ${QK}`);
  const nb = (rows * cols) / QK;
  if (bytesLength !== nb * spec.bytes) throw new RangeError(`${spec.name}: ${bytesLength} bytes for ${rows}×${cols} (expected ${nb * spec.bytes})`);
  return nb;
}

const mul = (spec: GridSpec, s: number) => spec.c0 + spec.c1 * s;

function makeCodec(spec: GridSpec): VqCodec {
  const subs = QK / spec.group;
  const vecs = QK / spec.dim;
  const idxWordsPerBlock = (vecs * spec.indexBits) / 32;
  const perWord = 32 / spec.indexBits;
  const scratch = (): Scratch => ({ idx: new Uint16Array(vecs), sg: new Uint32Array(8), sub: new Int32Array(subs) });
  // a(s) for every s, and round_f32(d·a(s)) is then one product (exact in f64, one rounding).
  const A = Float64Array.from({ length: spec.sMax + 1 }, (_, s) => mul(spec, s));

  function decode(bytes: Uint8Array, rows: number, cols: number): { q: VqTensor; origin: VqOrigin } {
    const nb = geometry(spec, bytes.length, rows, cols);
    const q = emptyVqTensor(rows, cols, gridCodebook(spec.grid), spec.group, spec.signed, spec.indexBits);
    const sub = new Int32Array(nb * subs);
    const origin: VqOrigin = { type: spec.type, d: new Uint16Array(nb), sub };
    const wpr = vqWordsPerRow(q);
    const iw = vqIndexWords(q);
    const bpr = cols / QK;
    const s = scratch();
    const { codes, scale } = q;
    const shift = spec.indexBits;
    for (let B = 0; B < nb; B++) {
      const r = Math.floor(B / bpr);
      const bi = B - r * bpr;
      const dBits = spec.read(bytes, B * spec.bytes, s);
      origin.d[B] = dBits;
      const d = f16ToF32(dBits);
      for (let j = 0; j < subs; j++) {
        sub[B * subs + j] = s.sub[j];
        scale[B * subs + j] = d * A[s.sub[j]];
      }
      let w = r * wpr + bi * idxWordsPerBlock;
      for (let v = 0; v < vecs; v += perWord, w++) {
        let x = 0;
        for (let k = 0; k < perWord; k++) x |= s.idx[v + k] << (k * shift);
        codes[w] = x >>> 0;
      }
      if (spec.signed) codes.set(s.sg, r * wpr + iw + bi * 8);
    }
    return { q, origin };
  }

  function checkOrigin(origin: VqOrigin, nb: number): void {
    if (origin.type !== spec.type) throw new RangeError(`${spec.name}: origin is of type ${GgmlType[origin.type]}`);
    if (origin.d.length !== nb || !origin.sub || origin.sub.length !== nb * subs)
      throw new RangeError(`${spec.name}: origin has ${origin.d.length} blocks and ${origin.sub?.length ?? 0} sub-scales, tensor ${nb} and ${nb * subs}`);
  }

  function encode(q: VqTensor, origin: VqOrigin): Uint8Array {
    const { rows, cols } = q;
    if (cols % QK !== 0) throw new RangeError(`${spec.name}: row length ${cols} is not a multiple of the block size ${QK}`);
    if (q.codebook.dim !== spec.dim || q.indexBits !== spec.indexBits || q.signed !== spec.signed || q.groupSize !== spec.group)
      throw new RangeError(`${spec.name}: the tensor's layout (table ${q.codebook.name}, ${q.indexBits}-bit indices) is not this type's`);
    const nb = (rows * cols) / QK;
    checkOrigin(origin, nb);
    const out = new Uint8Array(nb * spec.bytes);
    const wpr = vqWordsPerRow(q);
    const iw = vqIndexWords(q);
    const bpr = cols / QK;
    const s = scratch();
    const mask = (2 ** spec.indexBits - 1) >>> 0;
    const size = q.codebook.size;
    for (let B = 0; B < nb; B++) {
      const r = Math.floor(B / bpr);
      const bi = B - r * bpr;
      let w = r * wpr + bi * idxWordsPerBlock;
      for (let v = 0; v < vecs; v += perWord, w++) {
        const x = q.codes[w];
        for (let k = 0; k < perWord; k++) {
          const e = (x >>> (k * spec.indexBits)) & mask;
          if (e >= size) throw new RangeError(`${spec.name}: index ${e} is outside the ${size}-entry table`);
          s.idx[v + k] = e;
        }
      }
      if (spec.signed) for (let k = 0; k < 8; k++) s.sg[k] = q.codes[r * wpr + iw + bi * 8 + k];
      for (let j = 0; j < subs; j++) s.sub[j] = origin.sub![B * subs + j];
      spec.write(out, B * spec.bytes, s, origin.d[B]);
    }
    return out;
  }

  function exactView(_q: VqTensor, origin: VqOrigin): Parametrization {
    const a = Float32Array.from(origin.sub!, (s) => mul(spec, s));
    return superblockParametrization(Float32Array.from(origin.d, f16ToF32), null, a, null, subs);
  }

  function withExactTheta(origin: VqOrigin, theta: ArrayLike<number>): VqOrigin {
    if (theta.length !== origin.d.length) throw new RangeError(`${spec.name}: θ has ${theta.length} values, the tensor ${origin.d.length} blocks`);
    return { type: origin.type, d: Uint16Array.from(theta, (x) => f32ToF16(x)), sub: origin.sub && origin.sub.slice() };
  }

  function refit(origin: VqOrigin, target: Float32Array): { origin: VqOrigin; maxRelErr: number } {
    const nb = origin.d.length;
    checkOrigin(origin, nb);
    if (target.length !== nb * subs) throw new RangeError(`${spec.name}: ${target.length} target scales for ${nb * subs} groups`);
    const out: VqOrigin = { type: origin.type, d: origin.d.slice(), sub: origin.sub!.slice() };
    const cand: number[] = [];
    const best = new Int32Array(subs);
    const trial = new Int32Array(subs);
    let maxRel = 0;
    // The error of group j for d (f32 value) and sub-scale s, relative to its target (or to the block's largest target when it is 0).
    const relErr = (t: number, d: number, s: number, big: number) => {
      const fit = Math.fround(d * A[s]);
      const den = t !== 0 ? Math.abs(t) : big;
      return fit === t ? 0 : den === 0 ? Infinity : Math.abs(fit - t) / den;
    };
    for (let B = 0; B < nb; B++) {
      const g0 = B * subs;
      let tMax = 0;
      for (let j = 0; j < subs; j++) if (Math.abs(target[g0 + j]) > Math.abs(tMax)) tMax = target[g0 + j];
      const big = Math.abs(tMax);
      cand.length = 0;
      cand.push(origin.d[B]);
      for (let s = 0; s <= spec.sMax; s++) {
        const bits = f32ToF16(tMax / A[s]);
        cand.push(bits);
        if ((bits & 0x7fff) > 0) cand.push(bits - 1);
        if ((bits & 0x7fff) < 0x7bff) cand.push(bits + 1);
      }
      let bestErr = Infinity;
      let bestBits = origin.d[B];
      for (let c = 0; c < cand.length; c++) {
        const d = f16ToF32(cand[c]);
        if (!Number.isFinite(d)) continue;
        let worst = 0;
        for (let j = 0; j < subs; j++) {
          const t = target[g0 + j];
          let s = d === 0 ? 0 : Math.round((t / d - spec.c0) / spec.c1);
          s = Math.min(spec.sMax, Math.max(0, Number.isFinite(s) ? s : 0));
          let e = relErr(t, d, s, big);
          // Keep the stored sub-scale where it does as well (so an unchanged target returns the origin).
          const s0 = origin.sub![g0 + j];
          const e0 = relErr(t, d, s0, big);
          if (e0 <= e) {
            s = s0;
            e = e0;
          }
          trial[j] = s;
          if (e > worst) worst = e;
          if (worst >= bestErr) break;
        }
        if (worst < bestErr) {
          bestErr = worst;
          bestBits = cand[c];
          best.set(trial);
          if (worst === 0) break;
        }
      }
      if (bestErr === Infinity) {
        // No finite fit (targets beyond fp16): keep the block as stored and report it.
        maxRel = Infinity;
        continue;
      }
      out.d[B] = bestBits;
      out.sub!.set(best, g0);
      if (bestErr > maxRel) maxRel = bestErr;
    }
    return { origin: out, maxRelErr: maxRel };
  }

  return { type: spec.type, blockSize: QK, bytesPerBlock: spec.bytes, decode, encode, exactView, withExactTheta, refit };
}

export const GRID_CODECS: readonly VqCodec[] = SPECS.map(makeCodec);
