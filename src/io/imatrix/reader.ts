// Reader of llama.cpp imatrix files, both layouts, told apart by the magic:
//   GGUF (current; tools/imatrix/imatrix.cpp save_imatrix): general.type =
//     "imatrix", imatrix.datasets / chunk_count / chunk_size, and per weight
//     `<name>.in_sum2` F32 [n_cols, n_mat] (raw Σx²) and `<name>.counts` F32
//     [1, n_mat] (token rows); other tensors are ignored, as common_imatrix_load does.
//   legacy .dat (save_imatrix_legacy): little-endian int32 n_entries, then per
//     entry len, name[len], ncall, nval, f32[nval] ((Σx²/count)·ncall); an
//     optional trailer last_chunk, dataset_len, dataset[dataset_len].
// Every byte is hostile: counts and lengths are bounded by the bytes left before
// anything is allocated, and any problem (bad magic, truncation, negative or
// non-integer counts, shapes that do not divide, non-finite sums) is an
// ImatrixError (a FormatError) naming the file; the GGUF container's own checks
// raise GgufError.
import type { ByteSource } from '../source.ts';
import { readGguf, readTensorBytes } from '../gguf/reader.ts';
import { GgufValueType as T, type GgufFile, type GgufTensorInfo } from '../gguf/types.ts';
import { GgmlType } from '../../quant/formats.ts';
import { COUNTS, IN_SUM, IN_SUM2, ImatrixError, KEY_CHUNK_COUNT, KEY_CHUNK_SIZE, KEY_DATASETS, KEY_TYPE, type ImatrixEntry, type ReadImatrix } from './types.ts';

const shown = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/** Read an imatrix file (GGUF or legacy .dat); `name` replaces the source's name in errors. */
export async function readImatrix(source: ByteSource, name: string = source.name): Promise<ReadImatrix> {
  const src: ByteSource = name === source.name ? source : { name, size: source.size, read: (o, l) => source.read(o, l) };
  if (src.size < 4) throw new ImatrixError(name, `${src.size} bytes is too short for an imatrix file (truncated)`);
  const head = await src.read(0, 4);
  if (head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46) return readGgufImatrix(await readGguf(src));
  return readDatImatrix(name, await src.read(0, src.size));
}

function f32Values(file: string, t: GgufTensorInfo, bytes: Uint8Array): Float32Array {
  if (t.type !== GgmlType.F32) throw new ImatrixError(file, `tensor ${shown(t.name)} must be F32 (ggml type ${t.type} found)`);
  if (bytes.length !== t.nelements * 4) throw new ImatrixError(file, `tensor ${shown(t.name)}: ${bytes.length} bytes for ${t.nelements} F32 values`);
  const out = new Float32Array(t.nelements);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

function checkSums(file: string, what: string, v: Float32Array, nonNegative: boolean): void {
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw new ImatrixError(file, `${what}: value ${i} is ${v[i]} (non-finite)`);
    if (nonNegative && v[i] < 0) throw new ImatrixError(file, `${what}: value ${i} is ${v[i]}; sums of squares cannot be negative`);
  }
}

async function readGgufImatrix(f: GgufFile): Promise<ReadImatrix> {
  const file = f.name;
  const type = f.kv.get(KEY_TYPE);
  if (type && (type.type !== T.STRING || type.value !== 'imatrix'))
    throw new ImatrixError(file, `this GGUF is not an imatrix (${KEY_TYPE} is ${type.type === T.STRING ? shown(type.value as string) : T[type.type]}, not "imatrix")`);
  const u32 = (key: string): number | undefined => {
    const kv = f.kv.get(key);
    if (!kv) return undefined;
    if (kv.type !== T.UINT32 && kv.type !== T.INT32 && kv.type !== T.UINT64 && kv.type !== T.INT64) throw new ImatrixError(file, `key "${key}" must be an integer, found ${T[kv.type]}`);
    const v = kv.value;
    if (typeof v !== 'number' || v < 0) throw new ImatrixError(file, `key "${key}" is ${v}; it must be a non-negative integer`);
    return v;
  };
  const ds = f.kv.get(KEY_DATASETS);
  let datasets: string[] = [];
  if (ds) {
    if (ds.type !== T.ARRAY || ds.arrayType !== T.STRING) throw new ImatrixError(file, `key "${KEY_DATASETS}" must be an array of strings`);
    datasets = [...(ds.value as string[])];
  }
  const chunkCount = u32(KEY_CHUNK_COUNT);
  const chunkSize = u32(KEY_CHUNK_SIZE);
  if (f.tensors.length < 1) throw new ImatrixError(file, 'no data: the file has no tensors');

  const parts = new Map<string, { sum2?: GgufTensorInfo; counts?: GgufTensorInfo; sum?: GgufTensorInfo }>();
  for (const t of f.tensors) {
    for (const [suffix, key] of [[IN_SUM2, 'sum2'], [COUNTS, 'counts'], [IN_SUM, 'sum']] as const) {
      if (!t.name.endsWith(suffix)) continue;
      const base = t.name.slice(0, -suffix.length);
      if (!base) continue;
      const p = parts.get(base) ?? {};
      p[key] = t;
      parts.set(base, p);
      break;
    }
  }
  const entries = new Map<string, ImatrixEntry>();
  for (const base of [...parts.keys()].sort()) {
    const p = parts.get(base)!;
    if (!p.sum2 || !p.counts) throw new ImatrixError(file, `entry ${shown(base)} has ${p.sum2 ? 'in_sum2 but no counts' : 'counts but no in_sum2'} tensor`);
    const inSum2 = f32Values(file, p.sum2, await readTensorBytes(f, p.sum2));
    const rawCounts = f32Values(file, p.counts, await readTensorBytes(f, p.counts));
    const nMat = rawCounts.length;
    if (inSum2.length % nMat !== 0)
      throw new ImatrixError(file, `entry ${shown(base)}: shape mismatch: ${inSum2.length} sums do not divide into ${nMat} count${nMat === 1 ? '' : 's'}`);
    if (p.sum2.ne.length >= 2 && p.sum2.ne.slice(1).reduce((a, b) => a * b, 1) !== nMat)
      throw new ImatrixError(file, `entry ${shown(base)}: shape mismatch: in_sum2 [${p.sum2.ne.join(', ')}] against counts [${p.counts.ne.join(', ')}]`);
    const counts: number[] = [];
    for (let j = 0; j < nMat; j++) {
      const c = rawCounts[j];
      if (!Number.isFinite(c)) throw new ImatrixError(file, `entry ${shown(base)}: count ${j} is ${c} (non-finite)`);
      if (c < 0) throw new ImatrixError(file, `entry ${shown(base)}: count ${j} is ${c}; counts cannot be negative`);
      counts.push(Math.round(c));
    }
    checkSums(file, `entry ${shown(base)} in_sum2`, inSum2, true);
    const e: ImatrixEntry = { inSum2, counts, nCols: inSum2.length / nMat };
    if (p.sum) {
      const inSum = f32Values(file, p.sum, await readTensorBytes(f, p.sum));
      if (inSum.length !== inSum2.length) throw new ImatrixError(file, `entry ${shown(base)}: shape mismatch: in_sum has ${inSum.length} values, in_sum2 ${inSum2.length}`);
      checkSums(file, `entry ${shown(base)} in_sum`, inSum, false);
      e.inSum = inSum;
    }
    entries.set(base, e);
  }
  if (entries.size === 0) throw new ImatrixError(file, 'no data: no <name>.in_sum2 / <name>.counts tensors');
  return {
    format: 'gguf',
    entries,
    datasets,
    chunkCount: chunkCount ?? 0,
    chunkSize: chunkSize ?? 0,
    hasMetadata: !!ds && chunkCount !== undefined && chunkSize !== undefined,
  };
}

function readDatImatrix(file: string, b: Uint8Array): ReadImatrix {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pos = 0;
  const i32 = (what: string): number => {
    if (pos + 4 > b.length) throw new ImatrixError(file, `truncated: ${what} at byte ${pos} runs past the end (${b.length} bytes)`);
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const text = (len: number, what: string): string => {
    if (len > b.length - pos) throw new ImatrixError(file, `truncated: ${what} of ${len} bytes at byte ${pos} runs past the end (${b.length} bytes)`);
    let s: string;
    try {
      s = new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(pos, pos + len));
    } catch {
      throw new ImatrixError(file, `${what} at byte ${pos} is not UTF-8`);
    }
    pos += len;
    return s;
  };
  const nEntries = i32('entry count');
  // Smallest entry: len, 1-byte name, ncall, nval, one f32 = 17 bytes.
  if (nEntries < 1) throw new ImatrixError(file, `not an imatrix: it starts with ${nEntries} as the entry count (neither the GGUF magic nor a positive legacy .dat count)`);
  if (nEntries > (b.length - 4) / 17) throw new ImatrixError(file, `bad magic or truncated: ${nEntries} legacy entries cannot fit in ${b.length} bytes`);
  const entries = new Map<string, ImatrixEntry>();
  for (let i = 0; i < nEntries; i++) {
    const len = i32(`name length of entry ${i}`);
    if (len < 1 || len > 4096) throw new ImatrixError(file, `entry ${i}: name length ${len} is out of range (1..4096)`);
    const name = text(len, `name of entry ${i}`);
    const ncall = i32(`ncall of entry ${shown(name)}`);
    if (ncall < 0) throw new ImatrixError(file, `entry ${shown(name)}: ncall is ${ncall}; counts cannot be negative`);
    const nval = i32(`value count of entry ${shown(name)}`);
    if (nval < 1) throw new ImatrixError(file, `entry ${shown(name)}: value count ${nval} must be positive`);
    if (nval * 4 > b.length - pos) throw new ImatrixError(file, `truncated: entry ${shown(name)} needs ${nval * 4} bytes of values at byte ${pos}, ${b.length - pos} remain`);
    if (entries.has(name)) throw new ImatrixError(file, `duplicate entry ${shown(name)}`);
    const inSum2 = new Float32Array(nval);
    for (let j = 0; j < nval; j++) inSum2[j] = view.getFloat32(pos + 4 * j, true);
    pos += nval * 4;
    checkSums(file, `entry ${shown(name)}`, inSum2, true);
    entries.set(name, { inSum2, counts: [ncall], nCols: nval });
  }
  let chunkCount = 0;
  const datasets: string[] = [];
  if (pos < b.length) {
    chunkCount = i32('trailer chunk count');
    if (chunkCount < 0) throw new ImatrixError(file, `trailer chunk count is ${chunkCount}; counts cannot be negative`);
    if (pos < b.length) {
      const len = i32('trailer dataset length');
      if (len < 0) throw new ImatrixError(file, `trailer dataset length is ${len}`);
      if (len > 0) datasets.push(text(len, 'trailer dataset name'));
    }
    if (pos !== b.length) throw new ImatrixError(file, `${b.length - pos} unexpected bytes after the trailer at byte ${pos}`);
  }
  return { format: 'dat', entries, datasets, chunkCount, chunkSize: 0, hasMetadata: true };
}
