// Writers of imatrix files as llama.cpp's tools/imatrix/imatrix.cpp writes them:
//   writeImatrixGguf   save_imatrix: general.type, imatrix.datasets,
//                      imatrix.chunk_count, imatrix.chunk_size (in that order), then
//                      per entry in byte-wise sorted name order `<name>.in_sum2` F32
//                      [n_cols, n_mat] and `<name>.counts` F32 [1, n_mat] (GGUF v3,
//                      alignment 32), the file llama-quantize --imatrix reads.
//   encodeImatrixDat   save_imatrix_legacy: values (Σx²/count)·ncall with
//                      ncall = ⌈max(counts)/chunk_size⌉, count-0 experts as 1.0,
//                      then the trailer (last chunk, dataset name).
import { ImatrixError, KEY_CHUNK_COUNT, KEY_CHUNK_SIZE, KEY_DATASETS, KEY_TYPE, COUNTS, IN_SUM2, type Imatrix } from './types.ts';
import { writeGguf, type ByteSink, type GgufTensorSpec } from '../gguf/writer.ts';
import { GgufValueType as T, type GgufKv } from '../gguf/types.ts';
import { GgmlType } from '../../quant/formats.ts';

/** Entry names in the order llama.cpp writes them (std::sort on std::string: byte order). */
function sortedNames(im: Imatrix): string[] {
  const enc = new TextEncoder();
  return [...im.entries.keys()].sort((a, b) => {
    const x = enc.encode(a), y = enc.encode(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
    return x.length - y.length;
  });
}

function check(im: Imatrix, file: string): void {
  for (const [name, e] of im.entries) {
    const nMat = e.counts.length;
    if (nMat < 1 || e.inSum2.length !== e.nCols * nMat || e.nCols < 1)
      throw new ImatrixError(file, `entry ${JSON.stringify(name)}: shape mismatch: ${e.inSum2.length} sums for ${e.nCols} columns × ${nMat} counts`);
    if (e.counts.some((c) => !Number.isInteger(c) || c < 0)) throw new ImatrixError(file, `entry ${JSON.stringify(name)}: counts [${e.counts}] must be non-negative integers`);
  }
  for (const [k, v] of [['chunkCount', im.chunkCount], ['chunkSize', im.chunkSize]] as const)
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new ImatrixError(file, `${k} ${v} must be a u32`);
}

const f32Bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Write the GGUF imatrix; returns the byte count. */
export async function writeImatrixGguf(sink: ByteSink, im: Imatrix, file = 'imatrix.gguf'): Promise<number> {
  check(im, file);
  const kv: Array<[string, GgufKv]> = [
    [KEY_TYPE, { type: T.STRING, value: 'imatrix' }],
    [KEY_DATASETS, { type: T.ARRAY, arrayType: T.STRING, value: [...im.datasets] }],
    [KEY_CHUNK_COUNT, { type: T.UINT32, value: im.chunkCount }],
    [KEY_CHUNK_SIZE, { type: T.UINT32, value: im.chunkSize }],
  ];
  const tensors: GgufTensorSpec[] = [];
  const data: Uint8Array[] = [];
  for (const name of sortedNames(im)) {
    const e = im.entries.get(name)!;
    const nMat = e.counts.length;
    tensors.push({ name: name + IN_SUM2, ne: [e.nCols, nMat], type: GgmlType.F32 });
    data.push(f32Bytes(e.inSum2));
    tensors.push({ name: name + COUNTS, ne: [1, nMat], type: GgmlType.F32 });
    data.push(f32Bytes(Float32Array.from(e.counts)));
  }
  return writeGguf(sink, kv, tensors, (_, i) => data[i], file);
}

/** The legacy .dat bytes (llama.cpp's --output-format dat); entries with every count 0 are left out, as there. */
export function encodeImatrixDat(im: Imatrix, file = 'imatrix.dat'): Uint8Array {
  check(im, file);
  const chunk = im.chunkSize;
  if (chunk < 1) throw new ImatrixError(file, 'the legacy format needs chunkSize ≥ 1 (ncall = ⌈count / chunk size⌉)');
  const enc = new TextEncoder();
  const names = sortedNames(im).filter((n) => im.entries.get(n)!.counts.some((c) => c > 0));
  const out: Uint8Array[] = [];
  const i32 = (v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    out.push(b);
  };
  i32(names.length);
  for (const name of names) {
    const e = im.entries.get(name)!;
    const nb = enc.encode(name);
    i32(nb.length);
    out.push(nb);
    const ncall = Math.floor((Math.max(...e.counts) + chunk - 1) / chunk);
    i32(ncall);
    i32(e.inSum2.length);
    const tmp = new Float32Array(e.inSum2.length);
    for (let i = 0; i < tmp.length; i++) {
      let count = Math.fround(e.counts[Math.floor(i / e.nCols)]);
      let value = e.inSum2[i];
      if (count === 0) (value = 1, count = 1);
      tmp[i] = Math.fround(Math.fround(value / count) * ncall);
    }
    out.push(f32Bytes(tmp));
  }
  i32(im.chunkCount);
  const ds = enc.encode(im.datasets.at(-1) ?? '');
  i32(ds.length);
  out.push(ds);
  const total = out.reduce((s, b) => s + b.length, 0);
  const bytes = new Uint8Array(total);
  let o = 0;
  for (const b of out) (bytes.set(b, o), (o += b.length));
  return bytes;
}
