// IEEE binary16 on the CPU: rounding to the nearest f16 (ties to even) and
// reading packed halves back. Node 20 has neither Math.f16round nor
// Float16Array; both are a few lines, so no package is pulled in for them.

const MAX_F16 = 65504;

/** The f16 value nearest to x (ties to even), as a number; ±inf past f16's range. */
export function f16round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  // Past MAX_F16 + half its ulp (32 / 2 = 16) rounding goes to infinity.
  if (a >= MAX_F16 + 16) return Math.sign(x) * Infinity;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--; // log2 may round up just below a power of two
  else if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, -14) - 10); // below 2^-14: subnormals, fixed ulp 2^-24
  const v = a / ulp; // exact: a power-of-two division
  const f = Math.floor(v);
  const r = v - f > 0.5 || (v - f === 0.5 && f % 2 === 1) ? f + 1 : f;
  return Math.sign(x) * r * ulp;
}

/** The f16 values packed two per u32 word (element 2i in the low half), as numbers. */
export function unpackF16(words: Uint32Array): Float64Array {
  const out = new Float64Array(words.length * 2);
  for (let i = 0; i < out.length; i++) {
    const h = (words[i >> 1] >>> ((i & 1) * 16)) & 0xffff;
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const frac = h & 0x3ff;
    out[i] = exp === 0 ? sign * frac * 2 ** -24 : exp === 31 ? (frac ? NaN : sign * Infinity) : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}
