// CPU reference for RoPE in f64 (the oracle for rope_forward / rope_backward.wgsl),
// half-split layout: for each row n, head h and i < D/2, with θ = pos[n]·invFreq[i],
//   forward   (x_i, x_{i+D/2}) → (x_i cos θ − x_{i+D/2} sin θ, x_{i+D/2} cos θ + x_i sin θ)
//   backward  the same with −θ (a rotation's transpose is its inverse).
// x is [N, H, D] flat; invFreq [D/2] (src/arch/rope_freq.ts ropeInvFreq).

function rotate(x: ArrayLike<number>, positions: ArrayLike<number>, invFreq: ArrayLike<number>, sign: 1 | -1): Float64Array {
  const half = invFreq.length;
  const D = 2 * half;
  const N = positions.length;
  const H = x.length / (N * D);
  if (!Number.isInteger(H)) throw new RangeError(`ropeRef: ${x.length} values are not ${N} rows of heads of width ${D}`);
  const out = new Float64Array(x.length);
  for (let n = 0; n < N; n++)
    for (let i = 0; i < half; i++) {
      const theta = positions[n] * invFreq[i];
      const s = sign * Math.sin(theta);
      const c = Math.cos(theta);
      for (let h = 0; h < H; h++) {
        const a = (n * H + h) * D + i;
        const x1 = x[a];
        const x2 = x[a + half];
        out[a] = x1 * c - x2 * s;
        out[a + half] = x2 * c + x1 * s;
      }
    }
  return out;
}

export function ropeForwardRef(x: ArrayLike<number>, positions: ArrayLike<number>, invFreq: ArrayLike<number>): Float64Array {
  return rotate(x, positions, invFreq, 1);
}

export function ropeBackwardRef(dx: ArrayLike<number>, positions: ArrayLike<number>, invFreq: ArrayLike<number>): Float64Array {
  return rotate(dx, positions, invFreq, -1);
}
