// CPU reference in f64 of DWQ's hidden-state term (shaders/hidden_l1.wgsl and
// its use in ModelBackward): at each of the four quarter points of the depth,
// the residual stream after layer ⌈q·L/4⌉ (q = 1..4: L/4, L/2, 3L/4, L rounded
// up, so never the embeddings; with L < 4 some quarters share a layer and count
// once per quarter), the student's S_q [N, C] against the teacher's T_q (its own
// ⌈q·L_t/4⌉ when the depths differ; the widths C must match). Per counted row
// (the label loss's rows)
//   hidden_n = W / (4·C) · Σ_q Σ_c |S_q[n,c] − T_q[n,c]|
// added to the row's distillation loss, so the step's loss is the mean over
// counted rows of both: W times the mean L1 over quarters and channels. Its
// gradient into the student's residual stream at point q:
//   dS_q[n,c] = gradScale · W / (4·C) · sign(S_q[n,c] − T_q[n,c])   (sign(0) = 0).
// The points themselves: quarterLayers (src/arch/layers.ts).

/** Per-row term of one point, scaled: scale · Σ_c |S − T| on rows that count, else 0. */
export function hiddenL1ForwardRef(s: ArrayLike<number>, t: ArrayLike<number>, N: number, C: number, counts: (n: number) => boolean, scale: number): Float64Array {
  if (s.length !== N * C || t.length !== N * C) throw new RangeError(`hiddenL1ForwardRef: states of ${s.length} and ${t.length} values for N×C = ${N}×${C}`);
  const out = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    if (!counts(n)) continue;
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.abs(s[n * C + c] - t[n * C + c]);
    out[n] = scale * sum;
  }
  return out;
}

/** Gradient of one point's term with respect to S: gradScale · scale · sign(S − T) on rows that count. */
export function hiddenL1BackwardRef(s: ArrayLike<number>, t: ArrayLike<number>, N: number, C: number, counts: (n: number) => boolean, scale: number, gradScale: number): Float64Array {
  const out = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    if (!counts(n)) continue;
    for (let c = 0; c < C; c++) out[n * C + c] = gradScale * scale * Math.sign(s[n * C + c] - t[n * C + c]);
  }
  return out;
}
