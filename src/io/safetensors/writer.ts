// safetensors writer: lays tensors out contiguously in the order given, writes
// the header (JSON padded with spaces to a multiple of 8, as the reference
// `prepare` does, so the data section starts 8-aligned), then streams each
// tensor's bytes to an async sink. Tensor data may be produced lazily, so a
// large model is never held in memory twice.
import { SafetensorsError } from '../../base/errors.ts';
import { DTYPES, isDtype, type SafetensorsDtype } from './dtypes.ts';

/** Anything with an async write: a FileSystemWritableFileStream, a Node FileHandle adapter, an array. */
export interface ByteSink {
  write(chunk: Uint8Array): Promise<void> | void;
}

export type TensorBytes = Uint8Array | Float32Array | Uint16Array | Int32Array | Int8Array;

export interface SafetensorsWriteTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: readonly number[];
  /** The bytes (little-endian), or a function producing them when the writer reaches this tensor. */
  data: TensorBytes | (() => Promise<TensorBytes> | TensorBytes);
}

export interface SafetensorsLayout {
  /** The 8-byte length prefix followed by the padded JSON. */
  header: Uint8Array;
  /** [begin, end) of each tensor in the data section, in input order. */
  offsets: [number, number][];
  /** Total file size. */
  size: number;
}

/** Computes offsets and header bytes; validates names, dtypes and shapes. */
export function safetensorsLayout(
  tensors: readonly Omit<SafetensorsWriteTensor, 'data'>[],
  metadata: ReadonlyMap<string, string> | Record<string, string> | undefined,
  file: string,
): SafetensorsLayout {
  const fail = (detail: string): never => {
    throw new SafetensorsError(file, detail);
  };
  const seen = new Set<string>();
  const parts: string[] = [];
  if (metadata) {
    const entries = metadata instanceof Map ? [...metadata] : Object.entries(metadata);
    for (const [k, v] of entries) if (typeof v !== 'string') fail(`__metadata__["${k}"] must be a string`);
    // Built by hand rather than JSON.stringify(object) so integer-like keys keep their order.
    parts.push(`"__metadata__":{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  }
  const offsets: [number, number][] = [];
  let pos = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__' || seen.has(t.name)) fail(`tensor name ${JSON.stringify(t.name)} is reserved or repeated`);
    seen.add(t.name);
    if (!isDtype(t.dtype)) fail(`tensor ${t.name}: unknown dtype ${JSON.stringify(t.dtype)}`);
    let numel = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) fail(`tensor ${t.name}: bad shape [${t.shape.join(', ')}]`);
      numel *= d;
    }
    const bits = numel * DTYPES[t.dtype].bits;
    if (!Number.isSafeInteger(bits) || bits % 8 !== 0) fail(`tensor ${t.name}: ${numel} × ${t.dtype} is not a whole number of bytes`);
    const end = pos + bits / 8;
    offsets.push([pos, end]);
    parts.push(
      `${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${pos},${end}]}`,
    );
    pos = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const n = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + n).fill(0x20, 8 + json.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(n), true);
  header.set(json, 8);
  return { header, offsets, size: header.length + pos };
}

/**
 * Writes a safetensors file to `sink`; returns the number of bytes written.
 * Each tensor's data must be exactly shape × dtype bytes.
 */
export async function writeSafetensors(
  sink: ByteSink,
  tensors: readonly SafetensorsWriteTensor[],
  options: { metadata?: ReadonlyMap<string, string> | Record<string, string>; file?: string } = {},
): Promise<number> {
  const file = options.file ?? 'output.safetensors';
  const layout = safetensorsLayout(tensors, options.metadata, file);
  await sink.write(layout.header);
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    const data = typeof t.data === 'function' ? await t.data() : t.data;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const [begin, end] = layout.offsets[i];
    if (bytes.length !== end - begin)
      throw new SafetensorsError(file, `tensor ${t.name}: got ${bytes.length} bytes, shape [${t.shape.join(', ')}] × ${t.dtype} needs ${end - begin}`);
    await sink.write(bytes);
  }
  return layout.size;
}

/** Whole file in memory: for small outputs (adapters, tests); large models should stream to a sink. */
export async function encodeSafetensors(
  tensors: readonly SafetensorsWriteTensor[],
  options: { metadata?: ReadonlyMap<string, string> | Record<string, string>; file?: string } = {},
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const size = await writeSafetensors({ write: (c) => void chunks.push(c.slice()) }, tensors, options);
  const out = new Uint8Array(size);
  let pos = 0;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}
