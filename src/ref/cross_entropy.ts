// CPU references for the masked next-token cross-entropy, in f64 (the oracle of
// shaders/cross_entropy_*.wgsl and of crossEntropyChunked):
//   lse_n = log Σ_v exp(z[n,v]),  loss_n = lse_n − z[n, target_n] when row n
//   counts (mask_n ≠ 0 and 0 ≤ target_n < V; an ignore index such as −1 /
//   0xffffffff does not), else 0;  mean = Σ loss / #counted rows.
//   dz[n,v] = (softmax(z_n)_v − [v = target_n]) · gradScale on counted rows, else 0.
// The whole-batch LM-head variant computes every logit at once (z = h·Wᵀ), the
// thing the chunked GPU path must equal without ever holding N×V logits.

/** Whether row n takes part in the loss: a nonzero mask and a target inside the vocabulary. */
export function rowCounts(target: number, mask: number, V: number): boolean {
  return mask !== 0 && Number.isInteger(target) && target >= 0 && target < V;
}

function checkLens(what: string, N: number, V: number, z: ArrayLike<number>, targets: ArrayLike<number>, mask: ArrayLike<number>): void {
  if (z.length !== N * V) throw new RangeError(`${what}: logits have ${z.length} values, expected N×V = ${N}×${V}`);
  if (targets.length !== N || mask.length !== N) throw new RangeError(`${what}: targets (${targets.length}) and mask (${mask.length}) must have N = ${N} entries`);
}

export function crossEntropyForwardRef(z: ArrayLike<number>, N: number, V: number, targets: ArrayLike<number>, mask: ArrayLike<number>) {
  checkLens('crossEntropyForwardRef', N, V, z, targets, mask);
  const loss = new Float64Array(N);
  const lse = new Float64Array(N);
  let count = 0;
  let sum = 0;
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, z[n * V + v]);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(z[n * V + v] - m);
    lse[n] = m + Math.log(s);
    if (rowCounts(targets[n], mask[n], V)) {
      loss[n] = lse[n] - z[n * V + targets[n]];
      sum += loss[n];
      count++;
    }
  }
  return { loss, lse, count, mean: count ? sum / count : 0 };
}

export function crossEntropyBackwardRef(z: ArrayLike<number>, N: number, V: number, targets: ArrayLike<number>, mask: ArrayLike<number>, gradScale: number): Float64Array {
  const { lse } = crossEntropyForwardRef(z, N, V, targets, mask);
  const dz = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    if (!rowCounts(targets[n], mask[n], V)) continue;
    for (let v = 0; v < V; v++) dz[n * V + v] = (Math.exp(z[n * V + v] - lse[n]) - (v === targets[n] ? 1 : 0)) * gradScale;
  }
  return dz;
}

/**
 * LM head + cross-entropy for the whole batch at once: z = h·Wᵀ (h [N, C],
 * W [V, C]), the mean loss over counted rows, and with gradScale = 1/count the
 * gradients of that mean: dh = dz·W [N, C] and dW = dzᵀ·h [V, C].
 */
export function lmHeadCrossEntropyRef(h: ArrayLike<number>, w: ArrayLike<number>, N: number, C: number, V: number, targets: ArrayLike<number>, mask: ArrayLike<number>) {
  const z = new Float64Array(N * V);
  for (let n = 0; n < N; n++)
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += h[n * C + c] * w[v * C + c];
      z[n * V + v] = s;
    }
  const fwd = crossEntropyForwardRef(z, N, V, targets, mask);
  const dz = crossEntropyBackwardRef(z, N, V, targets, mask, fwd.count ? 1 / fwd.count : 0);
  const dh = new Float64Array(N * C);
  const dw = new Float64Array(V * C);
  for (let n = 0; n < N; n++)
    for (let v = 0; v < V; v++) {
      const g = dz[n * V + v];
      if (g === 0) continue;
      for (let c = 0; c < C; c++) {
        dh[n * C + c] += g * w[v * C + c];
        dw[v * C + c] += g * h[n * C + c];
      }
    }
  return { ...fwd, z, dz, dh, dw };
}
