// Whether a tuned QTensor can be written as a GPTQ layer, and its four tensors
// when it can. The bit-level codec (qweight / qzeros / scales packing, shared
// with the importer) is src/io/gptq/pack.ts; what can and cannot be exported,
// with an ExportError naming the layer, is decided here.
import { type GptqPacked, gptqGIdx, gptqLayoutProblem, packQweight, packQzeros, packScales, type GptqFormat } from '../../io/gptq/pack.ts';
import { f16Table, f32ToF16 } from '../../quant/f16.ts';
import { groupsPerRow, type QTensor } from '../../quant/qtensor.ts';
import { ExportError } from '../target.ts';

/**
 * Integer zero point of every group ([O, G], the QTensor's order), or an
 * ExportError naming the layer: the grid must be offset = −z·scale with z an
 * integer GPTQ can store (0..2^bits − 1), and every scale must fit f16.
 */
export function gptqZeroPoints(q: QTensor, name: string): Int32Array {
  const maxq = (1 << q.bits) - 1;
  const z = new Int32Array(q.scale.length);
  for (let g = 0; g < z.length; g++) {
    const s = q.scale[g];
    const m = q.offset[g];
    const where = () => `group ${g % groupsPerRow(q.cols, q.groupSize)} of row ${Math.floor(g / groupsPerRow(q.cols, q.groupSize))}`;
    if (!Number.isFinite(s) || !Number.isFinite(m)) throw new ExportError('gptq', `${name}: ${where()} has a non-finite scale or offset (${s}, ${m})`);
    // The same tolerance as the PEQA 'scale' view (src/quant/parametrize.ts): f32 rounding of −z·s only.
    const v = s === 0 ? 1 << (q.bits - 1) : Math.round(-m / s);
    if (Math.abs(-v * s - m) > 1e-6 * Math.max(1e-30, Math.abs(m)) + 1e-12)
      throw new ExportError('gptq', `${name}: ${where()} is not on an integer zero-point grid (offset ${m} ≠ −z·scale for scale ${s} and any integer z); GPTQ stores w = scale·(q − z), so only grids with integer zero points (sub4's RTN quantizer, PEQA 'scale' tuning) export — a 'scale+offset' tune does not`);
    if (v < 0 || v > maxq) throw new ExportError('gptq', `${name}: ${where()} has zero point ${v}, outside the ${q.bits}-bit range 0..${maxq} that qzeros can hold`);
    if (!Number.isFinite(f16Table()[f32ToF16(s)])) throw new ExportError('gptq', `${name}: ${where()} has scale ${s}, beyond the f16 range GPTQ scales are stored in`);
    z[g] = v;
  }
  return z;
}

/** Check that a tuned QTensor can be written as `format`; returns its zero points. */
export function checkGptqExport(q: QTensor, opts: { format: GptqFormat; name: string }): Int32Array {
  const why = gptqLayoutProblem(q);
  if (why) throw new ExportError('gptq', `${opts.name}: cannot pack as GPTQ: ${why}`);
  const z = gptqZeroPoints(q, opts.name);
  if (opts.format === 'gptq') {
    const g = z.indexOf(0);
    if (g >= 0)
      throw new ExportError('gptq', `${opts.name}: a group has zero point 0, which v1 GPTQ ('gptq', stores z − 1) cannot hold without corrupting its neighbours in qzeros; export with format gptq_v2`);
  }
  return z;
}

/** The four GPTQ tensors of one layer. */
export function packGptq(q: QTensor, opts: { format: GptqFormat; name: string }): GptqPacked {
  const z = checkGptqExport(q, opts);
  const G = groupsPerRow(q.cols, q.groupSize);
  return {
    qweight: packQweight(q),
    qzeros: packQzeros(z, q.rows, G, q.bits, opts.format),
    scales: packScales(q),
    g_idx: gptqGIdx(q.cols, q.groupSize),
  };
}
