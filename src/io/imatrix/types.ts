// Importance matrices (llama.cpp's imatrix, docs: shared/docs/formats-2.md §2):
// per weight matrix, Σ x² over every token row of the input x of that matrix
// multiplication, per input column (and per expert for MoE weights), with the
// number of rows summed. The data model shared by the reader, the writer and
// the collector (src/model/imatrix.ts).
import { FormatError } from '../../base/errors.ts';

/** A malformed imatrix file (GGUF or legacy .dat), naming the file and the problem. */
export class ImatrixError extends FormatError {}

export interface ImatrixEntry {
  /** Σ x² per input column, nMat rows of nCols (row m: expert m). Legacy .dat: the stored (Σx²/count)·ncall. */
  inSum2: Float32Array;
  /** Token rows summed, one per expert (GGUF); legacy .dat: [ncall]. */
  counts: number[];
  /** Input columns (ne0 of the weight). */
  nCols: number;
  /** Σ x per column, only in files from llama.cpp versions that write `.in_sum`. */
  inSum?: Float32Array;
}

export interface Imatrix {
  /** By GGUF weight name, e.g. `blk.0.attn_q.weight`. */
  entries: Map<string, ImatrixEntry>;
  /** Dataset paths (imatrix.datasets; the legacy trailer's one name). */
  datasets: string[];
  /** imatrix.chunk_count (legacy: the trailer's last_chunk); 0 when absent. */
  chunkCount: number;
  /** imatrix.chunk_size (tokens per chunk); 0 when absent (always in legacy files). */
  chunkSize: number;
}

export interface ReadImatrix extends Imatrix {
  format: 'gguf' | 'dat';
  /** Whether a GGUF has the three imatrix.* keys llama-quantize requires (legacy files: true). */
  hasMetadata: boolean;
}

/** Tensor-name suffixes of the GGUF layout. */
export const IN_SUM2 = '.in_sum2';
export const COUNTS = '.counts';
export const IN_SUM = '.in_sum';

export const KEY_TYPE = 'general.type';
export const KEY_DATASETS = 'imatrix.datasets';
export const KEY_CHUNK_COUNT = 'imatrix.chunk_count';
export const KEY_CHUNK_SIZE = 'imatrix.chunk_size';

/**
 * Per-column weights as llama-quantize computes them (tools/quantize/quantize.cpp
 * load_imatrix): GGUF, per expert row j: in_sum2 / counts[j] (the mean of x²),
 * 1 where counts[j] is 0; legacy: value / ncall (value itself when ncall ≤ 0).
 * Undefined when the imatrix has no entry for the tensor.
 */
export function importanceWeights(im: Imatrix & { format?: 'gguf' | 'dat' }, ggufTensorName: string): Float32Array | undefined {
  const e = im.entries.get(ggufTensorName);
  if (!e) return undefined;
  const out = new Float32Array(e.inSum2.length);
  if (im.format === 'dat') {
    const ncall = e.counts[0] ?? 0;
    for (let i = 0; i < out.length; i++) out[i] = ncall > 0 ? Math.fround(e.inSum2[i] / ncall) : e.inSum2[i];
    return out;
  }
  const nMat = e.counts.length;
  const ne0 = e.inSum2.length / nMat;
  for (let j = 0; j < nMat; j++) {
    const c = Math.fround(e.counts[j]);
    for (let i = 0; i < ne0; i++) out[j * ne0 + i] = c > 0 ? Math.fround(e.inSum2[j * ne0 + i] / c) : 1;
  }
  return out;
}
