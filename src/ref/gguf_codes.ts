// The oracle of the word-level block decoder (src/quant/gguf_codes.ts): every
// code of a ggml tensor read element by element through the layout table
// (blockCodeAt) and stored with setCode — the decoder sub4 used before loads
// had to run at disk speed.
import { BLOCK_FORMATS } from '../quant/formats.ts';
import { blockCodeAt, ggufGrid, type QuantGgmlType } from '../quant/gguf_qtensor.ts';
import { emptyQTensor, setCode, type QTensor } from '../quant/qtensor.ts';

/** The codes of a rows × cols tensor of ggml blocks as a QTensor (scale and offset left 0). */
export function refGgufCodes(type: QuantGgmlType, bytes: Uint8Array, rows: number, cols: number): QTensor {
  const f = BLOCK_FORMATS[type];
  const { bits, group } = ggufGrid(type);
  const q = emptyQTensor(rows, cols, bits, group);
  const perRow = cols / f.blockSize;
  for (let b = 0; b < (rows * cols) / f.blockSize; b++) {
    const r = Math.floor(b / perRow);
    const c0 = (b % perRow) * f.blockSize;
    for (let e = 0; e < f.blockSize; e++) setCode(q, r, c0 + e, blockCodeAt(type, bytes, b * f.bytesPerBlock, e));
  }
  return q;
}
