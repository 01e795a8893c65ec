// f16 / bf16 conversions: round-to-nearest-even at every tie, subnormals,
// overflow, infinities and NaN, checked exhaustively over the f16 range and
// against an independent nearest-value search on random f32 inputs.
import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32Bits, f32FromBits, f32ToBf16, f32ToF16 } from '../../src/quant/f16.ts';

const NAN16 = 0x7e00;

describe('f32ToF16 / f16ToF32', () => {
  it('round-trips every finite f16 and maps every NaN to the quiet NaN', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = f16ToF32(h);
      const back = f32ToF16(v);
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) {
        expect(Number.isNaN(v)).toBe(true);
        // JS does not promise to keep a NaN's sign through a number, so only quietness is checked.
        if ((back & 0x7fff) !== NAN16) expect(back & 0x7fff).toBe(NAN16);
      } else if (back !== h) expect(back, `f16 0x${h.toString(16)}`).toBe(h);
    }
  });

  it('rounds every midpoint between neighbouring f16 values to the even one', () => {
    for (let h = 0; h < 0x7bff; h++) {
      const mid = (f16ToF32(h) + f16ToF32(h + 1)) / 2; // 12 significant bits: exact in f32
      const even = h % 2 === 0 ? h : h + 1;
      const below = f32FromBits(f32Bits(mid) - 1);
      const above = f32FromBits(f32Bits(mid) + 1);
      if (f32ToF16(mid) !== even) expect(f32ToF16(mid), `midpoint after 0x${h.toString(16)}`).toBe(even);
      if (h > 0 && f32ToF16(below) !== h) expect(f32ToF16(below)).toBe(h);
      if (f32ToF16(above) !== h + 1) expect(f32ToF16(above)).toBe(h + 1);
      if (f32ToF16(-mid) !== (even | 0x8000)) expect(f32ToF16(-mid)).toBe(even | 0x8000);
    }
  });

  it('handles the edges: overflow, subnormals, zeros, infinities, NaN', () => {
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65519.99)).toBe(0x7bff); // below the midpoint to 65536
    expect(f32ToF16(65520)).toBe(0x7c00); // the midpoint ties to even: infinity
    expect(f32ToF16(1e10)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(f32ToF16(Infinity)).toBe(0x7c00);
    expect(f32ToF16(NaN)).toBe(NAN16);
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(0)).toBe(0);
    expect(f32ToF16(2 ** -24)).toBe(1); // smallest subnormal
    expect(f32ToF16(2 ** -25)).toBe(0); // tie between 0 and 2^-24: even is 0
    expect(f32ToF16(Math.fround(2 ** -25 * 1.0000001))).toBe(1);
    expect(f32ToF16(3 * 2 ** -25)).toBe(2); // tie between 1 and 2 units: even is 2
    expect(f32ToF16(2 ** -26)).toBe(0);
    expect(f32ToF16(-(2 ** -30))).toBe(0x8000);
    expect(f32ToF16(2 ** -14)).toBe(0x0400); // smallest normal
    expect(f32ToF16(2 ** -14 - 2 ** -25)).toBe(0x0400); // midpoint of 0x3ff and 0x400 ties to 0x400
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie to even (1.0)
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
  });

  it('equals a nearest-value search (ties to even) on 200,000 random f32 bit patterns', () => {
    // Independent reference: binary search over all non-negative finite f16 values.
    const vals = Float64Array.from({ length: 0x7c00 }, (_, h) => f16ToF32(h));
    const ref = (x: number): number => {
      const a = Math.abs(x);
      const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
      if (a >= 65520) return sign | 0x7c00;
      let lo = 0;
      let hi = 0x7bff;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (vals[mid] <= a) lo = mid;
        else hi = mid;
      }
      const dl = a - vals[lo];
      const dh = vals[hi] - a;
      const pick = dl < dh ? lo : dh < dl ? hi : lo % 2 === 0 ? lo : hi;
      return sign | pick;
    };
    let s = 12345;
    for (let i = 0; i < 200_000; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      // Exponents 97..143 cover every subnormal, normal and overflowing f16 case.
      const exp = 97 + (s % 47);
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const bits = ((s & 0x80000000) | (exp << 23) | (s & 0x7fffff)) >>> 0;
      const x = f32FromBits(bits);
      const got = f32ToF16(x);
      const want = ref(x);
      if (got !== want) expect(got, `x = ${x} (bits 0x${bits.toString(16)})`).toBe(want);
    }
  });
});

describe('bf16', () => {
  it('decodes the top half of an f32 and encodes with ties to even', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc000)).toBe(-2);
    expect(bf16ToF32(0x7f80)).toBe(Infinity);
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie: even
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie: even
    expect(f32ToBf16(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(f32ToBf16(-Infinity)).toBe(0xff80);
    expect(f32ToBf16(NaN) & 0x7fc0).toBe(0x7fc0); // quiet NaN
    for (let b = 0; b < 0x10000; b++) {
      if ((b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0) continue; // NaNs are quieted
      if (f32ToBf16(bf16ToF32(b)) !== b) expect(f32ToBf16(bf16ToF32(b))).toBe(b);
    }
  });
});
