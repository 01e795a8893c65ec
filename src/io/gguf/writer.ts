// GGUF v3 writer with explicit states, in the manner of gguf-py's GGUFWriter:
//   setup (addKv / addTensorInfo) → writeHeader → writeKvData → writeTensorInfos
//   → writeTensorData (each tensor in declared order, whole or in chunks) → finish.
// Calling a step out of order throws. Output goes to a sink chunk by chunk, so a
// multi-GB model streams. Layout as gguf.cpp gguf_write_out (docs/formats.md
// §1.1): tensor offsets are the running sum of sizes padded to the alignment,
// the data section starts padded (only when there are tensors), and every tensor
// is zero-padded to the alignment, so a llama.cpp file is reproduced byte for byte.
import { GgufError } from '../../base/errors.ts';
import { ggmlTypeInfo, ggmlTypeName, type GgmlType } from '../../quant/formats.ts';
import { ByteBuilder, encodeHeader, encodeKv, encodeTensorInfo } from './encode.ts';
import { ALIGNMENT_KEY, GGML_MAX_DIMS, GGML_MAX_NAME, GGUF_DEFAULT_ALIGNMENT, GgufValueType, padTo, type GgufKv } from './types.ts';

/** Where the bytes go: a file handle, a WritableStream writer, or memory. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void> | void;
}

export interface GgufTensorSpec {
  name: string;
  /** ggml order: ne[0] is the row length. */
  ne: number[];
  type: GgmlType;
}

type State = 'setup' | 'header' | 'kv' | 'tensorInfo' | 'data' | 'done';

interface Planned extends GgufTensorSpec {
  relOffset: number;
  nbytes: number;
}

const utf8 = new TextEncoder();

export class GgufWriter {
  private state: State = 'setup';
  private readonly kv = new Map<string, Uint8Array>();
  private readonly tensors: Planned[] = [];
  private alignment = GGUF_DEFAULT_ALIGNMENT;
  private dataSize = 0;
  private current = 0;
  private writtenOfCurrent = 0;
  bytesWritten = 0;

  constructor(
    private readonly sink: ByteSink,
    /** Name used in error messages. */
    readonly name = 'output.gguf',
  ) {}

  private fail(detail: string): never {
    throw new GgufError(this.name, detail);
  }

  private expect(step: string, ...states: State[]): void {
    if (!states.includes(this.state)) this.fail(`GgufWriter.${step}() called in state "${this.state}" (expected ${states.join(' or ')})`);
  }

  private async emit(bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return;
    await this.sink.write(bytes);
    this.bytesWritten += bytes.length;
  }

  /** Queue one metadata entry (written in the order added). Checks the value against its type now. */
  addKv(key: string, kv: GgufKv): void {
    this.expect('addKv', 'setup');
    if (this.kv.has(key)) this.fail(`duplicate key ${JSON.stringify(key)}`);
    if (key === ALIGNMENT_KEY) {
      const v = kv.value as number;
      if (kv.type !== GgufValueType.UINT32 || typeof v !== 'number' || v <= 0 || (v & (v - 1)) !== 0)
        this.fail(`key "${ALIGNMENT_KEY}" must be a UINT32 power of two`);
      if (this.tensors.length > 0) this.fail(`set "${ALIGNMENT_KEY}" before adding tensors (their offsets depend on it)`);
      this.alignment = v;
    }
    const b = new ByteBuilder();
    encodeKv(b, this.name, key, kv);
    this.kv.set(key, b.finish());
  }

  /** Queue one tensor info; its data offset is assigned now. Returns the tensor's byte size. */
  addTensorInfo(spec: GgufTensorSpec): number {
    this.expect('addTensorInfo', 'setup');
    const where = `tensor ${JSON.stringify(spec.name)}`;
    if (utf8.encode(spec.name).length >= GGML_MAX_NAME) this.fail(`${where}: names must be shorter than ${GGML_MAX_NAME} bytes`);
    if (this.tensors.some((t) => t.name === spec.name)) this.fail(`${where}: duplicate tensor name`);
    const info = ggmlTypeInfo(spec.type);
    if (!info) this.fail(`${where}: unknown ggml type id ${spec.type}`);
    if (spec.ne.length < 1 || spec.ne.length > GGML_MAX_DIMS) this.fail(`${where}: needs 1 to ${GGML_MAX_DIMS} dimensions`);
    if (!spec.ne.every((d) => Number.isSafeInteger(d) && d >= 1)) this.fail(`${where}: dimensions [${spec.ne.join(', ')}] must be positive integers`);
    if (spec.ne[0] % info.blockSize !== 0)
      this.fail(`${where}: row length ${spec.ne[0]} is not a multiple of the ${info.name} block size ${info.blockSize}`);
    const nelements = spec.ne.reduce((a, b) => a * b, 1);
    const nbytes = (nelements / info.blockSize) * info.bytesPerBlock;
    if (!Number.isSafeInteger(nbytes)) this.fail(`${where}: ${nbytes} bytes is too large`);
    this.tensors.push({ name: spec.name, ne: [...spec.ne], type: spec.type, relOffset: this.dataSize, nbytes });
    this.dataSize += padTo(nbytes, this.alignment);
    return nbytes;
  }

  /** magic, version 3, tensor count, metadata count. */
  async writeHeader(): Promise<void> {
    this.expect('writeHeader', 'setup');
    this.state = 'header';
    const b = new ByteBuilder();
    encodeHeader(b, 3, this.tensors.length, this.kv.size);
    await this.emit(b.finish());
  }

  async writeKvData(): Promise<void> {
    this.expect('writeKvData', 'header');
    this.state = 'kv';
    for (const bytes of this.kv.values()) await this.emit(bytes);
  }

  /** Tensor infos, then the padding that aligns the data section (only when there are tensors, like gguf.cpp). */
  async writeTensorInfos(): Promise<void> {
    this.expect('writeTensorInfos', 'kv');
    this.state = 'tensorInfo';
    const b = new ByteBuilder();
    for (const t of this.tensors) encodeTensorInfo(b, t.name, t.ne, t.type, t.relOffset);
    if (this.tensors.length > 0) b.zeros(padTo(this.bytesWritten + b.length, this.alignment) - (this.bytesWritten + b.length));
    await this.emit(b.finish());
    this.state = this.tensors.length > 0 ? 'data' : 'tensorInfo';
  }

  /** The tensor that writeTensorData expects next, or undefined when all are written. */
  get nextTensor(): Readonly<Planned> | undefined {
    return this.tensors[this.current];
  }

  /** Append bytes of tensor `name`, which must be the next one; call repeatedly to stream it in chunks. */
  async writeTensorData(name: string, chunk: Uint8Array): Promise<void> {
    this.expect('writeTensorData', 'data');
    const t = this.tensors[this.current];
    if (!t || t.name !== name) this.fail(`tensor data for ${JSON.stringify(name)} written out of order (expected ${JSON.stringify(t?.name)})`);
    if (this.writtenOfCurrent + chunk.length > t.nbytes)
      this.fail(`tensor ${JSON.stringify(name)}: ${this.writtenOfCurrent + chunk.length} bytes given, but ${ggmlTypeName(t.type)} [${t.ne.join(', ')}] is ${t.nbytes}`);
    await this.emit(chunk);
    this.writtenOfCurrent += chunk.length;
    if (this.writtenOfCurrent === t.nbytes) {
      await this.emit(new Uint8Array(padTo(t.nbytes, this.alignment) - t.nbytes));
      this.current++;
      this.writtenOfCurrent = 0;
    }
  }

  /** Checks that every tensor was written in full; returns the file size. */
  async finish(): Promise<number> {
    this.expect('finish', 'data', 'tensorInfo');
    const t = this.tensors[this.current];
    if (t) this.fail(`finish() called before tensor ${JSON.stringify(t.name)} was written (${this.writtenOfCurrent} of ${t.nbytes} bytes)`);
    this.state = 'done';
    return this.bytesWritten;
  }
}

/** Write a whole file: metadata in order, tensors in order, data fetched one tensor at a time. */
export async function writeGguf(
  sink: ByteSink,
  kv: Iterable<[string, GgufKv]>,
  tensors: readonly GgufTensorSpec[],
  data: (t: GgufTensorSpec, index: number) => Promise<Uint8Array> | Uint8Array,
  name?: string,
): Promise<number> {
  const w = new GgufWriter(sink, name);
  for (const [k, v] of kv) w.addKv(k, v);
  for (const t of tensors) w.addTensorInfo(t);
  await w.writeHeader();
  await w.writeKvData();
  await w.writeTensorInfos();
  for (let i = 0; i < tensors.length; i++) await w.writeTensorData(tensors[i].name, await data(tensors[i], i));
  return w.finish();
}

/** A sink that keeps everything in memory (tests, small files, browser downloads). */
export class MemorySink implements ByteSink {
  private chunks: Uint8Array[] = [];
  length = 0;
  write(bytes: Uint8Array): void {
    this.chunks.push(bytes.slice());
    this.length += bytes.length;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}
