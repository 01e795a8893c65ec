// Kernel-vs-reference assertion shared by the GPU tests of the elementwise and
// normalization kernels: the error relative to the reference's largest
// magnitude (src/gpu/compare.ts normRelError) must stay within `tol`; a failure
// prints max abs / rel error and the worst index. SUB4_PRINT_ERRORS=1 logs every
// measured figure (for reports).
import { expect } from 'vitest';
import { compareArrays, normRelError } from '../../src/gpu/compare.ts';

export function expectClose(name: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): number {
  const rel = normRelError(got, want);
  const s = compareArrays(got, want);
  const msg = `${name}: norm rel ${rel.toExponential(2)}, max abs ${s.maxAbs.toExponential(2)}, max rel ${s.maxRel.toExponential(2)} at ${s.worst} (got ${got[s.worst]}, want ${want[s.worst]})`;
  if (process.env.SUB4_PRINT_ERRORS) console.log(msg);
  expect(rel, msg).toBeLessThanOrEqual(tol);
  return rel;
}
