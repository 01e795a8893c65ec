// Trainable parametrizations: small views mapping trainable parameters θ to the
// effective per-group scale and offset the qlinear kernels read, with the chain
// rule back. All three sub4 uses are one affine form:
//   scale[g]  = a[g] · θ[ps[g]]        offset[g] = b[g] · θ[pm[g]]
//   'scale'            (PEQA, arXiv 2305.14152): θ = s per group, ps = pm = g, a = 1,
//                      b = −z (the integer zero point stays fixed; offset follows scale)
//   'scale+offset'     θ = [s; m], a = b = 1 (EfficientQAT E2E-QP, MLX DWQ)
//   'gguf-superblock'  K-quants: θ = [d; dmin] per super-block, a = 6-bit sub-scale sc_j,
//                      b = −m_j, so export back to the same K-quant is exact
// Gradients gather through a CSR list per θ entry (children are contiguous
// groups), so the GPU backward needs no atomics.
import { groupsPerRow, type QTensor } from './qtensor.ts';

export type ParamKind = 'scale' | 'scale+offset' | 'gguf-superblock';

export interface Parametrization {
  kind: ParamKind;
  /** Trainable parameters, initialised so that the effective scale/offset equal the QTensor's. */
  theta: Float32Array;
  /** Per group: coefficient and θ index for the scale and for the offset. */
  a: Float32Array;
  ps: Uint32Array;
  b: Float32Array;
  pm: Uint32Array;
  /** CSR of the transpose: for θ[j], entries [ptr[j], ptr[j+1]) of (group, coef, isOffset). */
  ptr: Uint32Array;
  group: Uint32Array;
  coef: Float32Array;
  isOffset: Uint32Array;
}

function buildCsr(p: Omit<Parametrization, 'ptr' | 'group' | 'coef' | 'isOffset'>): Parametrization {
  const n = p.theta.length;
  const G = p.a.length;
  const count = new Uint32Array(n + 1);
  for (let g = 0; g < G; g++) {
    count[p.ps[g] + 1]++;
    count[p.pm[g] + 1]++;
  }
  for (let j = 0; j < n; j++) count[j + 1] += count[j];
  const ptr = count.slice();
  const fill = count.slice(0, n);
  const group = new Uint32Array(2 * G);
  const coef = new Float32Array(2 * G);
  const isOffset = new Uint32Array(2 * G);
  for (let g = 0; g < G; g++) {
    let e = fill[p.ps[g]]++;
    group[e] = g;
    coef[e] = p.a[g];
    e = fill[p.pm[g]]++;
    group[e] = g;
    coef[e] = p.b[g];
    isOffset[e] = 1;
  }
  return { ...p, ptr, group, coef, isOffset };
}

/** PEQA: train the scale; offset = −z·scale with z recovered from the tensor. */
export function scaleParametrization(t: Pick<QTensor, 'scale' | 'offset'>): Parametrization {
  const G = t.scale.length;
  const ps = Uint32Array.from({ length: G }, (_, g) => g);
  const b = new Float32Array(G);
  for (let g = 0; g < G; g++) {
    const z = t.scale[g] === 0 ? 0 : Math.round(-t.offset[g] / t.scale[g]);
    if (Math.abs(-z * t.scale[g] - t.offset[g]) > 1e-6 * Math.max(1e-30, Math.abs(t.offset[g])) + 1e-12)
      throw new RangeError(`scale parametrization: group ${g} has no integer zero point (offset ${t.offset[g]}, scale ${t.scale[g]}); use 'scale+offset'`);
    b[g] = -z;
  }
  return buildCsr({ kind: 'scale', theta: t.scale.slice(), a: new Float32Array(G).fill(1), ps, b, pm: ps.slice() });
}

export function scaleOffsetParametrization(t: Pick<QTensor, 'scale' | 'offset'>): Parametrization {
  const G = t.scale.length;
  const theta = new Float32Array(2 * G);
  theta.set(t.scale);
  theta.set(t.offset, G);
  return buildCsr({
    kind: 'scale+offset',
    theta,
    a: new Float32Array(G).fill(1),
    ps: Uint32Array.from({ length: G }, (_, g) => g),
    b: new Float32Array(G).fill(1),
    pm: Uint32Array.from({ length: G }, (_, g) => G + g),
  });
}

/**
 * K-quant super-blocks: `d` (and `dmin` for Q2_K/Q4_K/Q5_K) per super-block,
 * as f32 values of the fp16 fields, and per group (sub-block) its integer
 * sub-scale `sc` and sub-min `m`; groups of one super-block are consecutive:
 * `groupsPerSuper` of them. Types without mins (Q3_K, Q6_K) have signed codes
 * shifted by `zero`: offset = −zero·d·sc, so both views follow d alone.
 */
export function superblockParametrization(
  d: Float32Array,
  dmin: Float32Array | null,
  sc: ArrayLike<number>,
  m: ArrayLike<number> | null,
  groupsPerSuper: number,
  zero = 0,
): Parametrization {
  const S = d.length;
  const G = sc.length;
  if (G !== S * groupsPerSuper || (m && m.length !== G) || (dmin && dmin.length !== S) || !dmin !== !m)
    throw new RangeError('superblock parametrization: sizes do not agree');
  const theta = new Float32Array(dmin ? 2 * S : S);
  theta.set(d);
  if (dmin) theta.set(dmin, S);
  const ps = Uint32Array.from({ length: G }, (_, g) => Math.floor(g / groupsPerSuper));
  return buildCsr({
    kind: 'gguf-superblock',
    theta,
    a: Float32Array.from(sc),
    ps,
    b: m ? Float32Array.from(m, (v) => -v) : Float32Array.from(sc, (v) => -zero * v),
    pm: dmin ? Uint32Array.from(ps, (s) => S + s) : ps.slice(),
  });
}

export function parametrizationFor(kind: Exclude<ParamKind, 'gguf-superblock'>, t: Pick<QTensor, 'scale' | 'offset'>): Parametrization {
  return kind === 'scale' ? scaleParametrization(t) : scaleOffsetParametrization(t);
}

/** Number of groups a QTensor has, for callers sizing gradient buffers. */
export function groupCount(t: Pick<QTensor, 'rows' | 'cols' | 'groupSize'>): number {
  return t.rows * groupsPerRow(t.cols, t.groupSize);
}

/** θ → effective scale and offset in f32, as the qparam kernel computes them (export reads tuned layers through this). */
export function applyParametrization(p: Parametrization, theta: ArrayLike<number>): { scale: Float32Array; offset: Float32Array } {
  if (theta.length !== p.theta.length) throw new RangeError(`parametrization: θ has ${theta.length} values, the view ${p.theta.length}`);
  const G = p.a.length;
  const scale = new Float32Array(G);
  const offset = new Float32Array(G);
  for (let g = 0; g < G; g++) {
    scale[g] = p.a[g] * theta[p.ps[g]];
    offset[g] = p.b[g] * theta[p.pm[g]];
  }
  return { scale, offset };
}
