// A QTensor resident on the GPU: codes, scale and offset buffers plus the shape
// facts kernels need. Scale and offset are separate buffers because they are
// what trains (PEQA) and what gets gradients.
//
// The codes of a large weight (an LM head of 128k × 2048 at 4 bits is 131 MB)
// can exceed one storage binding (128 MiB on many devices, see
// maxStorageBufferBindingSize), so they are split by rows into parts, each its
// own buffer within the limit; the kernels run once per part. Scale and offset
// stay one buffer each: at 64/G bits per weight they are 4–16× smaller than the
// codes, so a tensor's groups must fit one binding (2^25 groups at 128 MiB).
//
// Code layout on the GPU: each row is one dense little-endian bit stream, code
// k at bits [k·bits, k·bits + bits) from the row's first word, rows of
// wordsPerRow(cols, bits) words as on the CPU (ceil(cols/32)·bits words hold
// ceil(cols/32)·32 codes either way). For 2, 4 and 8 bits that is the CPU
// QTensor's single bit plane, uploaded as is. For 3, 5 and 6 bits the CPU keeps
// two planes (ggml's split, src/quant/qtensor.ts); the GPU copy is repacked into
// the dense stream because decoding a quad of codes is then one funnel shift
// and one AND instead of two planes' shifts, masks and an OR: the fused forward
// measured ~1.2× faster at 3 bits on SwiftShader (bench/qlinear.ts). A dense
// code may cross a word, so such parts carry one word of padding after the last
// row for the kernels' two-word read (shaders/include/qcode.wgsl).
import type { GpuContext } from './device.ts';
import { GpuTensor } from './buffers.ts';
import { GpuLimitError } from './errors.ts';
import { timed, type PhaseClock } from '../base/phase_clock.ts';
import { groupsPerRow, planeWidths, wordsPerRow, type QBits, type QTensor } from '../quant/qtensor.ts';
import type { QTensorScratch } from '../quant/qtensor_scratch.ts';

export interface CodePart {
  /** First row of the weight held by this part, and how many rows it holds. */
  row0: number;
  rows: number;
  codes: GpuTensor<'u32'>;
}

/**
 * What a codebook tensor (src/quant/vq/vqtensor.ts, uploaded by src/gpu/vq_gpu.ts)
 * adds: with it, the codes are VqTensor rows (index words, then sign words) and
 * `bits` is meaningless; qlinear.ts hands such tensors to kernels/vqlinear.ts.
 */
export interface GpuVq {
  /** f32 [size·dim, padded to a multiple of 4]: entry e, element j at e·dim + j. Shared across tensors for fixed codebooks. */
  table: GpuTensor<'f32'>;
  dim: 1 | 2 | 4 | 8;
  indexBits: 2 | 4 | 8 | 16;
  signed: boolean;
  /** u32 words per row (index words, then sign words), and the index words alone. */
  wordsPerRow: number;
  indexWords: number;
  /** max |table value|, for the f16 forward's per-group range. */
  tableMax: number;
}

export interface GpuQTensor {
  rows: number;
  cols: number;
  /** Code bits of a scalar tensor (a codebook tensor carries 8 here, unused: see `vq`). */
  bits: QBits;
  /** Present for a codebook tensor. */
  vq?: GpuVq;
  groupSize: number;
  codeParts: CodePart[];
  scale: GpuTensor<'f32'>;
  offset: GpuTensor<'f32'>;
  destroy(): void;
}

export interface UploadOptions {
  /** Largest bytes per code buffer; defaults to the device's binding and buffer limits. Tests force small values. */
  maxBindingBytes?: number;
  /** Where the time goes: 'repack' (3/5/6-bit codes to the dense layout) and 'upload'. */
  clock?: PhaseClock;
  /** Reused memory for the dense repack (a model load passes one for all its tensors); else a fresh array per part. */
  scratch?: QTensorScratch;
}

export function uploadQTensor(ctx: GpuContext, q: QTensor, label = 'qweight', opts: UploadOptions = {}): GpuQTensor {
  const ng = groupsPerRow(q.cols, q.groupSize);
  const wpr = wordsPerRow(q.cols, q.bits);
  const limit = opts.maxBindingBytes ?? Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  // Widths whose codes may cross a word add one padding word per part (see the layout above).
  const straddles = planeWidths(q.bits)[1] > 0;
  const rowsPerPart = Math.floor((limit - (straddles ? 4 : 0)) / (wpr * 4));
  if (rowsPerPart < 1)
    throw new GpuLimitError(`${label}: one row of codes (${wpr * 4} bytes) exceeds the ${limit}-byte binding limit`, 'maxStorageBufferBindingSize', wpr * 4, limit);
  const codeParts: CodePart[] = [];
  for (let row0 = 0; row0 < q.rows; row0 += rowsPerPart) {
    const rows = Math.min(rowsPerPart, q.rows - row0);
    const words = straddles ? timed(opts.clock, 'repack', () => denseRows(q, row0, rows, opts.scratch?.words(rows * wpr + 1))) : q.codes.subarray(row0 * wpr, (row0 + rows) * wpr);
    const codes = timed(opts.clock, 'upload', () => GpuTensor.from(ctx, words, [words.length], 'u32', `${label}.codes[${row0}]`));
    codeParts.push({ row0, rows, codes });
  }
  const [scale, offset] = timed(opts.clock, 'upload', () => [
    GpuTensor.from(ctx, q.scale, [q.rows, ng], 'f32', `${label}.scale`),
    GpuTensor.from(ctx, q.offset, [q.rows, ng], 'f32', `${label}.offset`),
  ]);
  return gpuQTensor(q.rows, q.cols, q.bits, q.groupSize, codeParts, scale, offset);
}

/** The GpuQTensor of buffers already on the GPU (uploadQTensor, or the GGUF conversion kernel). */
export function gpuQTensor(rows: number, cols: number, bits: QBits, groupSize: number, codeParts: CodePart[], scale: GpuTensor<'f32'>, offset: GpuTensor<'f32'>): GpuQTensor {
  return {
    rows,
    cols,
    bits,
    groupSize,
    codeParts,
    scale,
    offset,
    destroy() {
      for (const p of codeParts) p.codes.destroy();
      scale.destroy();
      offset.destroy();
    },
  };
}

/**
 * Rows row0..row0+rows of a QTensor in the GPU's dense layout (see the header),
 * plus one zero word of padding, into `out` (rows·wordsPerRow + 1 zeroed words)
 * when given. Exported for its unit test (against getCode).
 * This runs once per weight of every 3/5/6-bit layer at upload (a billion codes
 * for a 1B model), so it works four codes at a time: a 32-code group is `bits`
 * whole words in both layouts, and within it each quad's plane-0 bits (8 or 16)
 * and plane-1 bits (4 or 8) are spread to their dense positions by two lookup
 * tables, then or-ed into the group's words.
 */
export function denseRows(q: QTensor, row0: number, rows: number, out?: Uint32Array): Uint32Array {
  const { bits, cols } = q;
  const wpr = wordsPerRow(cols, bits);
  const [p0, p1] = planeWidths(bits);
  const groups = Math.ceil(cols / 32);
  const plane1 = groups * p0; // first word of plane 1 within a row
  const [lo, hi] = spreadTables(bits);
  const loMask = (1 << (4 * p0)) - 1, hiMask = (1 << (4 * p1)) - 1;
  const quadBits = 4 * bits;
  const codes = q.codes;
  out ??= new Uint32Array(rows * wpr + 1);
  for (let r = 0; r < rows; r++) {
    const src = (row0 + r) * wpr;
    for (let g = 0; g < groups; g++) {
      const w0 = src + g * p0, w1 = src + plane1 + g * p1;
      const dst = r * wpr + g * bits;
      for (let i = 0; i < 8; i++) {
        const b0 = 4 * p0 * i, b1 = 4 * p1 * i; // bit offsets of quad i in the group's plane words
        const v = lo[(codes[w0 + (b0 >>> 5)] >>> (b0 & 31)) & loMask] | hi[(codes[w1 + (b1 >>> 5)] >>> (b1 & 31)) & hiMask];
        const b = quadBits * i;
        const k = dst + (b >>> 5), sh = b & 31;
        out[k] |= v << sh;
        if (sh + quadBits > 32) out[k + 1] |= v >>> (32 - sh);
      }
    }
  }
  return out;
}

const spreads = new Map<number, [Uint32Array, Uint32Array]>();

/** For a width: plane-0 bits of 4 codes → their dense positions, and the same for plane-1 bits. */
function spreadTables(bits: number): [Uint32Array, Uint32Array] {
  let t = spreads.get(bits);
  if (!t) {
    const [p0, p1] = planeWidths(bits);
    const spread = (p: number, at: number) =>
      Uint32Array.from({ length: 1 << (4 * p) }, (_, x) => {
        let v = 0;
        for (let c = 0; c < 4; c++) v |= ((x >>> (c * p)) & ((1 << p) - 1)) << (c * bits + at);
        return v >>> 0;
      });
    t = [spread(p0, 0), spread(p1, p0)];
    spreads.set(bits, t);
  }
  return t;
}
