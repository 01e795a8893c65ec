// Reusable host memory for QTensors that live only until they are uploaded (a
// model load decodes ~10⁹ codes through one tensor at a time): one codes, scale
// and offset buffer, plus one word buffer for the GPU's dense repack, each grown
// to the largest tensor and then reused. Fresh arrays per tensor cost first-touch
// page faults and GC work that measured several times the decode itself.
// Contents are not cleared between uses: whoever fills a scratch QTensor must
// write every word (decodeGgufInto does), and words() is zeroed because the
// repack or-s into it. floats() serves float checkpoints (safetensors BF16/F16)
// the same way: one f32 buffer each tensor is converted into before its upload.
import { checkQShape, groupsPerRow, wordsPerRow, type QBits, type QTensor } from './qtensor.ts';

export class QTensorScratch {
  private codes = new Uint32Array(0);
  private scale = new Float32Array(0);
  private offset = new Float32Array(0);
  private dense = new Uint32Array(0);
  private f32 = new Float32Array(0);

  /** A QTensor of the shape over this scratch's buffers, valid until the next call; its contents are stale. */
  qtensor(rows: number, cols: number, bits: QBits, groupSize: number): QTensor {
    checkQShape(rows, cols, bits, groupSize);
    const nw = rows * wordsPerRow(cols, bits), ng = rows * groupsPerRow(cols, groupSize);
    if (this.codes.length < nw) this.codes = new Uint32Array(nw);
    if (this.scale.length < ng) (this.scale = new Float32Array(ng)), (this.offset = new Float32Array(ng));
    return { rows, cols, bits, groupSize, codes: this.codes.subarray(0, nw), scale: this.scale.subarray(0, ng), offset: this.offset.subarray(0, ng) };
  }

  /** n f32 values, valid until the next call; contents stale (the converter writes every one). */
  floats(n: number): Float32Array {
    if (this.f32.length < n) this.f32 = new Float32Array(n);
    return this.f32.subarray(0, n);
  }

  /** n zeroed words, valid until the next call. */
  words(n: number): Uint32Array {
    if (this.dense.length < n) this.dense = new Uint32Array(n);
    const w = this.dense.subarray(0, n);
    w.fill(0);
    return w;
  }
}
