// K-quant layers whose per-group scales (and offsets) were trained as free
// floats ('scale' / 'scale+offset' views) do not fit their blocks exactly: a
// block stores one f16 d (and dmin) per 256 weights and small integer sub-scales
// sc_j (and sub-mins m_j), so the effective scale is d·sc_j and the offset
// −dmin·m_j. This refits those fields to best approximate the trained values —
// d from the largest scale, each sc_j rounded against the f16 d actually
// stored, the same for the mins — while the code bits stay untouched, and
// measures what the approximation costs in weight space, which the export
// reports (it is never hidden). Types without mins (Q3_K, Q6_K) keep
// offset = −zero·scale, so a trained free offset there is lost and counted.
import { f16ToF32, f32ToF16, writeU16 } from '../quant/f16.ts';
import { BLOCK_FORMATS } from '../quant/formats.ts';
import { getCode, groupsPerRow } from '../quant/qtensor.ts';
import type { TunedLinear } from './tuned.ts';

export interface Refit {
  /** Blocks in file row order with refitted f16 fields and sub-scales. */
  bytes: Uint8Array;
  /** ‖W_refit − W_trained‖ / ‖W_trained‖ over the whole tensor. */
  relRmse: number;
}

const clamp = (x: number, [lo, hi]: readonly [number, number]) => Math.min(hi, Math.max(lo, x));

/** Integer multipliers of one f16 step for targets t_j, within range; returns the f16 bits of the step. */
function fitStep(t: ArrayLike<number>, range: readonly [number, number], out: Int32Array): number {
  let big = 0;
  for (let j = 0; j < t.length; j++) big = Math.max(big, range[0] < 0 ? Math.abs(t[j]) : t[j]);
  const bits = f32ToF16(big / Math.max(range[1], -range[0]));
  const step = f16ToF32(bits);
  for (let j = 0; j < t.length; j++) out[j] = step === 0 ? 0 : clamp(Math.round(t[j] / step), range);
  return bits;
}

export function refitKQuant(raw: Uint8Array, l: TunedLinear, rowOrder: Uint32Array | null): Refit {
  const origin = l.origin!;
  const f = BLOCK_FORMATS[origin.type];
  const codec = f.scales!;
  const out = raw.slice();
  const { q } = l;
  const subs = codec.count;
  const perRow = q.cols / f.blockSize;
  const ng = groupsPerRow(q.cols, q.groupSize);
  // Types without mins decode offset = −zero·d·sc, zero = 2^(bits−1) (Q3_K: 4, Q6_K: 32).
  const zero = 1 << (q.bits - 1);
  const sc = new Int32Array(subs);
  const m = new Int32Array(subs);
  const s = new Float64Array(subs);
  const mins = new Float64Array(subs);
  let err = 0;
  let norm = 0;
  for (let r = 0; r < q.rows; r++) {
    const fr = rowOrder ? rowOrder[r] : r;
    for (let b = 0; b < perRow; b++) {
      const g0 = r * ng + b * subs;
      const off = (fr * perRow + b) * f.bytesPerBlock;
      for (let j = 0; j < subs; j++) {
        s[j] = q.scale[g0 + j];
        mins[j] = -q.offset[g0 + j];
      }
      const dBits = fitStep(s, codec.scRange, sc);
      writeU16(out, off + f.f16Fields!.d, dBits);
      const d = f16ToF32(dBits);
      let dmin = 0;
      if (codec.mRange) {
        const mBits = fitStep(mins, codec.mRange, m);
        writeU16(out, off + f.f16Fields!.dmin!, mBits);
        dmin = f16ToF32(mBits);
      }
      codec.encode(sc, codec.mRange ? m : null, out, off);
      for (let j = 0; j < subs; j++) {
        const newS = Math.fround(d * sc[j]);
        const newO = codec.mRange ? -Math.fround(dmin * m[j]) : -zero * newS;
        const c0 = b * f.blockSize + j * codec.subBlockSize;
        for (let e = 0; e < codec.subBlockSize; e++) {
          const code = getCode(q, r, c0 + e);
          const want = q.scale[g0 + j] * code + q.offset[g0 + j];
          const got = newS * code + newO;
          err += (got - want) ** 2;
          norm += want ** 2;
        }
      }
    }
  }
  return { bytes: out, relRmse: Math.sqrt(err / Math.max(norm, 1e-300)) };
}
