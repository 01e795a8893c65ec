// CPU reference for the token embedding lookup (the oracle for embedding_forward.wgsl):
//   x[n, c] = E[ids[n], c]·scale,  E [V, C] row-major. Ids outside [0, V) are an error here:
// the reference defines the result only for valid ids (the kernel clamps the rest).

export function embeddingForwardRef(table: ArrayLike<number>, C: number, ids: ArrayLike<number>, scale = 1): Float64Array {
  const V = table.length / C;
  if (!Number.isInteger(V)) throw new RangeError(`embeddingForwardRef: ${table.length} values are not rows of C = ${C}`);
  const x = new Float64Array(ids.length * C);
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`embeddingForwardRef: id ${id} at ${n} is outside [0, ${V})`);
    for (let c = 0; c < C; c++) x[n * C + c] = table[id * C + c] * scale;
  }
  return x;
}
