// The shape algebra of causal grouped-query attention: H query heads share K
// KV heads, T new queries at absolute positions qOffset.. against kvLen keys
// in an S-row cache, optionally within a sliding window. Shared by the GPU
// kernels (src/gpu/kernels/attention.ts) and their reference (src/ref), so
// both accept and refuse exactly the same shapes.

export interface AttentionDims {
  B: number;
  /** Query rows per batch. */
  T: number;
  H: number;
  K: number;
  D: number;
  /** KV rows allocated per batch (cache capacity); defaults to kvLen. */
  S?: number;
  /** Keys in use; must equal qOffset + T (defaults to it). */
  kvLen?: number;
  /** Absolute position of the first query row; defaults to 0. */
  qOffset?: number;
  /** Sliding window (Mistral): key j visible from position i iff i − window < j ≤ i; 0 / undefined = full causal. */
  window?: number;
}

export type ResolvedAttentionDims = Required<AttentionDims> & { G: number; scale: number };

/** Fill defaults and check that the dimensions fit; throws RangeError naming the field. Shared by the kernels and src/ref/attention.ts. */
export function resolveAttentionDims(d: AttentionDims): ResolvedAttentionDims {
  const qOffset = d.qOffset ?? 0;
  const kvLen = d.kvLen ?? qOffset + d.T;
  const S = d.S ?? kvLen;
  const window = d.window ?? 0;
  for (const [k, v] of Object.entries({ B: d.B, T: d.T, H: d.H, K: d.K, D: d.D, S, kvLen, qOffset, window }))
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`attention: ${k} = ${v} is not a non-negative integer`);
  if (d.K === 0 || d.H % d.K !== 0) throw new RangeError(`attention: H = ${d.H} query heads are not a multiple of K = ${d.K} KV heads`);
  if (kvLen !== qOffset + d.T) throw new RangeError(`attention: kvLen = ${kvLen} must equal qOffset + T = ${qOffset + d.T} (the new queries are the last keys)`);
  if (kvLen > S) throw new RangeError(`attention: kvLen = ${kvLen} exceeds the ${S} KV rows allocated per batch`);
  return { B: d.B, T: d.T, H: d.H, K: d.K, D: d.D, S, kvLen, qOffset, window, G: d.H / d.K, scale: 1 / Math.sqrt(d.D) };
}
