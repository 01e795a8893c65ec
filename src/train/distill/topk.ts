// The teacher's side of a distillation batch from its logits, on the CPU in
// f64: log-probabilities at the temperature τ of the K largest logits per row
// (ties to the lower id, as src/ref/distill.ts's teacherTopKRef) and the tail
// mass Σ over the rest, summed directly rather than as 1 − Σ top-K (exact 0 at
// K = V, and no cancellation when the top-K holds nearly all the mass).
// Selection keeps a K-entry min-heap per row: O(V log K), so a 128k vocabulary
// costs what a sort of K would, not of V.

export interface TopKRows {
  K: number;
  ids: Uint32Array;
  logp: Float32Array;
  tail: Float64Array;
}

/** Row n of `z` [rows·V] → ids/logp [rows·K] (largest first) and tail [rows]. */
export function topKRows(z: ArrayLike<number>, rows: number, V: number, K: number, tau: number): TopKRows {
  if (!Number.isInteger(K) || K < 1 || K > V) throw new RangeError(`topKRows: top-K of ${K} must be in 1..V = ${V}`);
  if (!(tau > 0)) throw new RangeError(`topKRows: temperature ${tau} must be positive`);
  if (z.length !== rows * V) throw new RangeError(`topKRows: ${z.length} logits for ${rows} rows of ${V}`);
  const out: TopKRows = { K, ids: new Uint32Array(rows * K), logp: new Float32Array(rows * K), tail: new Float64Array(rows) };
  const heap = new Int32Array(K); // ids; heap[0] is the smallest kept (the lower id wins a tie, so it ranks higher)
  const below = (a: number, b: number, base: number) => z[base + a] < z[base + b] || (z[base + a] === z[base + b] && a > b);
  const inTop = new Uint8Array(V);
  for (let r = 0; r < rows; r++) {
    const base = r * V;
    let size = 0;
    for (let v = 0; v < V; v++) {
      if (size < K) {
        let i = size++;
        heap[i] = v;
        while (i > 0) {
          const parent = (i - 1) >> 1;
          if (!below(heap[i], heap[parent], base)) break;
          [heap[i], heap[parent]] = [heap[parent], heap[i]];
          i = parent;
        }
      } else if (below(heap[0], v, base)) {
        heap[0] = v;
        for (let i = 0; ; ) {
          const l = 2 * i + 1;
          const rr = l + 1;
          let m = i;
          if (l < K && below(heap[l], heap[m], base)) m = l;
          if (rr < K && below(heap[rr], heap[m], base)) m = rr;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m], heap[i]];
          i = m;
        }
      }
    }
    const top = Array.from(heap).sort((a, b) => z[base + b] - z[base + a] || a - b);
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, z[base + v] / tau);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(z[base + v] / tau - max);
    const lse = max + Math.log(sum);
    inTop.fill(0);
    top.forEach((id, i) => {
      inTop[id] = 1;
      out.ids[r * K + i] = id;
      out.logp[r * K + i] = z[base + id] / tau - lse;
    });
    let rest = 0;
    for (let v = 0; v < V; v++) if (!inTop[v]) rest += Math.exp(z[base + v] / tau - lse);
    out.tail[r] = rest;
  }
  return out;
}
