// What an opened model is, whatever file it came from: its config, its tensors
// (engine names and layout, read one at a time on demand) and its tokenizer.
// Types only, so that the readers that fill it (src/io/model.ts, the GPTQ
// and AQLM importers) and everything above io share them without importing each other.
import type { LlamaConfig } from '../arch/config.ts';
import type { GgmlType } from '../quant/formats.ts';
import type { QTensor } from '../quant/qtensor.ts';
import type { VqTensor } from '../quant/vq/vqtensor.ts';
import type { GgufFile } from './gguf/types.ts';
import type { FolderSource, HfModelFolder } from './hf_folder.ts';
import type { ByteSource } from './source.ts';
import type { Tokenizer } from './tokenizer/types.ts';

export type ModelInput = { kind: 'gguf'; source: ByteSource } | { kind: 'folder'; folder: FolderSource };

export interface ModelTensor {
  /** Engine (HF) name; tensors with no HF equivalent keep their GGUF name. */
  name: string;
  ggufName: string | null;
  /** Row-major [rows, cols] ([out, in] for linear layers), or [n] for vectors. */
  shape: number[];
  /** Storage type as the file has it: 'F32', 'BF16', 'Q4_K', ... */
  type: string;
  ggmlType: GgmlType | null;
  bytes: number;
  /** Row reordering applied on read to reach the engine's rotary layout (GGUF q/k), or null. */
  rowOrder: Uint32Array | null;
  /** Values in engine layout, dequantized to f32. */
  readF32(): Promise<Float32Array>;
  /** Bytes exactly as stored in the file (file row order); `into`: a buffer the reader may fill instead of allocating (ByteSource.read). */
  readRaw(into?: Uint8Array): Promise<Uint8Array>;
  /**
   * Float tensors whose stored bytes need no reordering (safetensors): readRaw's
   * bytes → `out` (one f32 per element), the same values readF32 gives. Lets a
   * load read them ahead into reused buffers and convert into reused memory.
   */
  f32Into?(raw: Uint8Array, out: Float32Array): void;
  /** Quantized layers that are not GGUF blocks (GPTQ checkpoints): the QTensor, engine row order. */
  readQ?(): Promise<QTensor>;
  /** With readQ: its grid (group size in columns; per-channel = the row length), for planning before reading. */
  quant?: { bits: number; groupSize: number };
  /** Codebook layers that are not GGUF blocks (AQLM checkpoints, src/io/aqlm/import.ts): a learned-table VqTensor, engine row order. */
  readVq?(): Promise<VqTensor>;
  /** With readVq: weights per code and code bits (one table of 2^bits entries per layer), for planning before reading. */
  vq?: { dim: number; bits: number };
}

export interface LoadedModel {
  format: 'gguf' | 'hf';
  name: string;
  /** Bytes of every file that makes up the model. */
  fileBytes: number;
  config: LlamaConfig;
  tensors: Map<string, ModelTensor>;
  tokenizer: Tokenizer | null;
  /** Why there is no tokenizer, in plain words, when there is none. */
  tokenizerProblem: string | null;
  gguf?: GgufFile;
  hf?: HfModelFolder;
  close(): Promise<void>;
}
