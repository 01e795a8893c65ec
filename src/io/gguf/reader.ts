// Staged GGUF reader (v2 and v3): header → metadata → tensor infos → alignment
// and data offset, then tensors on demand. The header is read in growing slices
// (1 MiB first) instead of the whole file, and each item (one key/value or one
// tensor info) is resumed from its start when a slice is too short. Every count,
// length, offset and size is validated; anything wrong is a GgufError naming the
// file and the key or tensor (UnsupportedError for a GGUF version or byte order
// sub4 does not read). Checks follow gguf.cpp gguf_init_from_reader
// (docs/formats.md §1.1), except that tensor data may be laid out in any order
// as long as it is aligned, inside the file and not overlapping.
import { GgufError } from '../../base/errors.ts';
import type { ByteSource } from '../source.ts';
import { formatOf, ggmlTypeInfo, ggmlTypeName } from '../../quant/formats.ts';
import { HeaderCursor, NeedMore } from './cursor.ts';
import { readValue } from './kv_read.ts';
import {
  ALIGNMENT_KEY,
  GGML_MAX_DIMS,
  GGML_MAX_NAME,
  GGUF_DEFAULT_ALIGNMENT,
  GgufValueType,
  padTo,
  type GgufFile,
  type GgufKv,
  type GgufTensorInfo,
} from './types.ts';

export interface ReadGgufOptions {
  /** Size of the first header slice; later slices grow as needed. Default 1 MiB. */
  initialReadBytes?: number;
}

/** Smallest possible encodings, used to bound counts before parsing them. */
const HEADER_BYTES = 24; // magic, version, tensor count, kv count
const MIN_KV_BYTES = 8 + 4 + 1; // empty key, type, 1-byte value
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8; // empty name, n_dims, one dim, type, offset

interface RawInfo {
  name: string;
  ne: number[];
  type: number;
  relOffset: number;
}

/** Shorten hostile names before they go into messages. */
function shown(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

/** Parses the header; each call to run() resumes at the item that last needed more bytes. */
class HeaderParser {
  readonly cur: HeaderCursor;
  /** Absolute offset where the item being parsed starts. */
  itemStart = 0;
  private stage: 'header' | 'kv' | 'tensors' | 'done' = 'header';
  private i = 0;
  version: 2 | 3 = 3;
  nKv = 0;
  nTensors = 0;
  readonly kv = new Map<string, GgufKv>();
  readonly infos: RawInfo[] = [];
  private readonly names = new Set<string>();

  constructor(file: string, size: number) {
    this.cur = new HeaderCursor(file, size);
  }

  run(buf: Uint8Array, base: number): void {
    const cur = this.cur;
    cur.setWindow(buf, base);
    cur.pos = this.itemStart;
    if (this.stage === 'header') {
      this.header();
      this.stage = 'kv';
      this.itemStart = cur.pos;
    }
    while (this.stage === 'kv' && this.i < this.nKv) {
      cur.ctx = `metadata entry ${this.i}`;
      const key = cur.string('key');
      cur.ctx = `key ${shown(key)}`;
      if (this.kv.has(key)) cur.fail('duplicate key');
      this.kv.set(key, readValue(cur));
      this.i++;
      this.itemStart = cur.pos;
    }
    if (this.stage === 'kv') {
      this.stage = 'tensors';
      this.i = 0;
    }
    while (this.stage === 'tensors' && this.i < this.nTensors) {
      const info = this.tensorInfo();
      // Recorded only once the whole item parsed: a NeedMore retry re-parses it.
      this.names.add(info.name);
      this.infos.push(info);
      this.i++;
      this.itemStart = cur.pos;
    }
    this.stage = 'done';
    cur.ctx = '';
  }

  private header(): void {
    const cur = this.cur;
    cur.need(HEADER_BYTES, 'GGUF header');
    const m = [cur.u8('magic'), cur.u8('magic'), cur.u8('magic'), cur.u8('magic')];
    if (String.fromCharCode(...m) !== 'GGUF')
      cur.fail(`not a GGUF file: it starts with bytes ${m.map((b) => b.toString(16).padStart(2, '0')).join(' ')}, not "GGUF"`);
    const v = cur.u32('version');
    if (v === 1) cur.unsupported('GGUF version 1 is not supported (it predates 64-bit counts); re-convert the model with a current llama.cpp');
    if (v === 0x02000000 || v === 0x03000000) cur.unsupported('this is a big-endian GGUF; only little-endian files are supported');
    if (v !== 2 && v !== 3) cur.unsupported(`unsupported GGUF version ${v} (supported: 2 and 3)`);
    this.version = v as 2 | 3;
    this.nTensors = cur.u64Num('tensor count');
    this.nKv = cur.u64Num('metadata count');
    const least = this.nKv * MIN_KV_BYTES + this.nTensors * MIN_TENSOR_INFO_BYTES;
    if (least > cur.left())
      cur.fail(
        `header claims ${this.nKv} metadata entries and ${this.nTensors} tensors, which need at least ${least} bytes, but only ${cur.left()} remain`,
      );
  }

  private tensorInfo(): RawInfo {
    const cur = this.cur;
    cur.ctx = `tensor info ${this.i}`;
    const name = cur.string('tensor name', GGML_MAX_NAME);
    cur.ctx = `tensor ${shown(name)}`;
    if (this.names.has(name)) cur.fail('duplicate tensor name');
    const nDims = cur.u32('dimension count');
    if (nDims < 1 || nDims > GGML_MAX_DIMS) cur.fail(`has ${nDims} dimensions; ggml allows 1 to ${GGML_MAX_DIMS}`);
    const ne: number[] = [];
    for (let j = 0; j < nDims; j++) {
      const d = cur.u64(`ne[${j}]`);
      if (d <= 0n || d > BigInt(Number.MAX_SAFE_INTEGER)) cur.fail(`ne[${j}] is ${d}; dimensions must be between 1 and 2^53`);
      ne.push(Number(d));
    }
    const type = cur.u32('ggml type');
    if (!ggmlTypeInfo(type)) cur.fail(`has ggml type id ${type}, which is not a known ggml type`);
    const relOffset = cur.u64Num('data offset');
    return { name, ne, type, relOffset };
  }
}

function fileError(file: string, detail: string): GgufError {
  return new GgufError(file, detail);
}

function alignmentOf(file: string, kv: Map<string, GgufKv>): number {
  const a = kv.get(ALIGNMENT_KEY);
  if (!a) return GGUF_DEFAULT_ALIGNMENT;
  if (a.type !== GgufValueType.UINT32) throw fileError(file, `key "${ALIGNMENT_KEY}" must be a UINT32, found ${GgufValueType[a.type]}`);
  const v = a.value as number;
  if (v === 0 || (v & (v - 1)) !== 0) throw fileError(file, `key "${ALIGNMENT_KEY}" is ${v}; it must be a power of two`);
  return v;
}

/** Element count and byte size of one tensor, bounded by the file size. */
function sizeOf(file: string, fileSize: number, r: RawInfo): { nelements: number; nbytes: number } {
  const info = ggmlTypeInfo(r.type)!;
  const where = `tensor ${shown(r.name)}`;
  if (r.ne[0] % info.blockSize !== 0)
    throw fileError(file, `${where}: row length ne[0]=${r.ne[0]} is not a multiple of the ${info.name} block size ${info.blockSize}`);
  let nelements = 1;
  for (const d of r.ne) nelements *= d;
  const nbytes = (nelements / info.blockSize) * info.bytesPerBlock;
  if (nelements > Number.MAX_SAFE_INTEGER || nbytes > fileSize)
    throw fileError(file, `${where}: shape [${r.ne.join(', ')}] of ${info.name} needs ${nbytes} bytes, more than the whole file (${fileSize})`);
  return { nelements, nbytes };
}

/** Read and validate everything before the tensor data. */
export async function readGguf(src: ByteSource, opts: ReadGgufOptions = {}): Promise<GgufFile> {
  const chunk = Math.max(1, Math.floor(opts.initialReadBytes ?? 1 << 20));
  const p = new HeaderParser(src.name, src.size);
  let base = 0;
  let buf = await src.read(0, Math.min(src.size, chunk));
  for (;;) {
    try {
      p.run(buf, base);
      break;
    } catch (e) {
      if (!(e instanceof NeedMore)) throw e;
      // Re-read from the start of the unfinished item; double when the same item is still too long.
      const start = p.itemStart;
      const grow = start === base ? 2 * buf.length : 0;
      const len = Math.min(src.size - start, Math.max(e.end - start, chunk, grow));
      // The cursor checks lengths against the file before asking for more, so this cannot
      // happen; the guard makes a bug there an error instead of an endless loop.
      if (start + len < e.end) throw fileError(src.name, `header item at byte ${start} runs past the end of the file (${src.size} bytes)`);
      buf = await src.read(start, len);
      base = start;
    }
  }
  const file = src.name;
  const alignment = alignmentOf(file, p.kv);
  const dataOffset = padTo(p.cur.pos, alignment);
  if (p.infos.length > 0 && dataOffset > src.size)
    throw fileError(file, `tensor data would start at byte ${dataOffset}, past the end of the file (${src.size} bytes)`);

  const tensors: GgufTensorInfo[] = p.infos.map((r) => {
    const { nelements, nbytes } = sizeOf(file, src.size, r);
    const where = `tensor ${shown(r.name)}`;
    if (r.relOffset % alignment !== 0)
      throw fileError(file, `${where}: data offset ${r.relOffset} is not a multiple of the alignment ${alignment}`);
    const offset = dataOffset + r.relOffset;
    if (offset + nbytes > src.size)
      throw fileError(file, `${where}: data ends at byte ${offset + nbytes}, but the file has ${src.size}`);
    return { name: r.name, ne: r.ne, type: r.type, offset, nbytes, nelements };
  });
  const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1];
    if (byOffset[i].offset < prev.offset + prev.nbytes)
      throw fileError(file, `tensor ${shown(byOffset[i].name)}: data at byte ${byOffset[i].offset} overlaps tensor ${shown(prev.name)}`);
  }
  return { name: file, version: p.version, kv: p.kv, tensors, alignment, dataOffset, source: src };
}

/** A tensor by name, or undefined. */
export function findTensor(f: GgufFile, name: string): GgufTensorInfo | undefined {
  return f.tensors.find((t) => t.name === name);
}

/** The raw bytes of one tensor (quantized blocks as stored). */
export async function readTensorBytes(f: GgufFile, t: GgufTensorInfo, into?: Uint8Array): Promise<Uint8Array> {
  if (!Number.isSafeInteger(t.offset) || !Number.isSafeInteger(t.nbytes) || t.offset < 0 || t.nbytes < 0 || t.offset + t.nbytes > f.source.size)
    throw fileError(f.name, `tensor ${shown(t.name)}: bytes [${t.offset}, ${t.offset + t.nbytes}) are outside the file (${f.source.size} bytes)`);
  return f.source.read(t.offset, t.nbytes, into);
}

/** One tensor decoded to f32 through the block-format table (UnsupportedError for types sub4 cannot decode). */
export async function readTensorF32(f: GgufFile, t: GgufTensorInfo): Promise<Float32Array> {
  const fmt = formatOf(t.type, t.name, f.name);
  const nBlocks = t.nelements / fmt.blockSize;
  if (!Number.isInteger(nBlocks) || nBlocks * fmt.bytesPerBlock !== t.nbytes)
    throw fileError(f.name, `tensor ${shown(t.name)}: ${t.nbytes} bytes do not hold ${t.nelements} ${ggmlTypeName(t.type)} values`);
  const bytes = await readTensorBytes(f, t);
  const out = new Float32Array(t.nelements);
  fmt.dequantize(bytes, out, nBlocks);
  return out;
}
