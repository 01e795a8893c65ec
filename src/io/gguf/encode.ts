// Little-endian byte builder for GGUF headers, plus the encoding of metadata
// values (docs/formats.md §1.1). Values are checked against their declared type
// before they are written, so a bad call fails with a GgufError naming the key
// instead of producing a file llama.cpp would refuse.
import { GgufError } from '../../base/errors.ts';
import { GgufValueType as T, isValueType, type GgufKv, type GgufValue } from './types.ts';

const utf8 = new TextEncoder();

export class ByteBuilder {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  length = 0;

  /** Reserve n bytes and return their offset (may reallocate, so call it before touching buf/view). */
  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const o = this.length;
    this.length += n;
    return o;
  }
  u8(v: number): this {
    const o = this.room(1);
    this.view.setUint8(o, v);
    return this;
  }
  i8(v: number): this {
    const o = this.room(1);
    this.view.setInt8(o, v);
    return this;
  }
  u16(v: number): this {
    const o = this.room(2);
    this.view.setUint16(o, v, true);
    return this;
  }
  i16(v: number): this {
    const o = this.room(2);
    this.view.setInt16(o, v, true);
    return this;
  }
  u32(v: number): this {
    const o = this.room(4);
    this.view.setUint32(o, v, true);
    return this;
  }
  i32(v: number): this {
    const o = this.room(4);
    this.view.setInt32(o, v, true);
    return this;
  }
  f32(v: number): this {
    const o = this.room(4);
    this.view.setFloat32(o, v, true);
    return this;
  }
  f64(v: number): this {
    const o = this.room(8);
    this.view.setFloat64(o, v, true);
    return this;
  }
  u64(v: number | bigint): this {
    const o = this.room(8);
    this.view.setBigUint64(o, BigInt(v), true);
    return this;
  }
  i64(v: number | bigint): this {
    const o = this.room(8);
    this.view.setBigInt64(o, BigInt(v), true);
    return this;
  }
  bytes(b: Uint8Array): this {
    const o = this.room(b.length);
    this.buf.set(b, o);
    return this;
  }
  /** GGUF string: u64 byte length + UTF-8, no terminator. */
  string(s: string): this {
    const b = utf8.encode(s);
    return this.u64(b.length).bytes(b);
  }
  zeros(n: number): this {
    const o = this.room(n);
    this.buf.fill(0, o, this.length);
    return this;
  }
  /** A copy of the bytes written so far. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const INT_RANGE: Partial<Record<T, [number, number]>> = {
  [T.UINT8]: [0, 0xff],
  [T.INT8]: [-0x80, 0x7f],
  [T.UINT16]: [0, 0xffff],
  [T.INT16]: [-0x8000, 0x7fff],
  [T.UINT32]: [0, 0xffffffff],
  [T.INT32]: [-0x80000000, 0x7fffffff],
};
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const TYPED: Partial<Record<T, new (...args: any[]) => ArrayBufferView>> = {
  [T.UINT8]: Uint8Array,
  [T.INT8]: Int8Array,
  [T.UINT16]: Uint16Array,
  [T.INT16]: Int16Array,
  [T.UINT32]: Uint32Array,
  [T.INT32]: Int32Array,
  [T.FLOAT32]: Float32Array,
  [T.FLOAT64]: Float64Array,
  [T.UINT64]: BigUint64Array,
  [T.INT64]: BigInt64Array,
};
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

function scalar(b: ByteBuilder, t: T, v: unknown, bad: (why: string) => never): void {
  const range = INT_RANGE[t];
  if (range) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) bad(`${String(v)} is not a ${T[t]}`);
    if (t === T.UINT8) b.u8(v);
    else if (t === T.INT8) b.i8(v);
    else if (t === T.UINT16) b.u16(v);
    else if (t === T.INT16) b.i16(v);
    else if (t === T.UINT32) b.u32(v);
    else b.i32(v);
    return;
  }
  switch (t) {
    case T.FLOAT32:
    case T.FLOAT64:
      if (typeof v !== 'number') bad(`${String(v)} is not a number`);
      if (t === T.FLOAT32) b.f32(v);
      else b.f64(v);
      return;
    case T.BOOL:
      if (typeof v !== 'boolean') bad(`${String(v)} is not a boolean`);
      b.u8(v ? 1 : 0);
      return;
    case T.STRING:
      if (typeof v !== 'string') bad(`${String(v)} is not a string`);
      b.string(v);
      return;
    case T.UINT64:
    case T.INT64: {
      const ok = (typeof v === 'number' && Number.isSafeInteger(v)) || typeof v === 'bigint';
      if (!ok) bad(`${String(v)} is not a ${T[t]}`);
      const big = BigInt(v as number | bigint);
      if (t === T.UINT64 ? big < 0n || big > U64_MAX : big < I64_MIN || big > I64_MAX) bad(`${big} is out of range for ${T[t]}`);
      if (t === T.UINT64) b.u64(big);
      else b.i64(big);
      return;
    }
    default:
      bad(`${T[t]} is not a scalar type`);
  }
}

/** Append `value type` + payload for one metadata entry (the key is written by the caller). */
export function encodeValue(b: ByteBuilder, file: string, key: string, kv: GgufKv): void {
  const bad = (why: string): never => {
    throw new GgufError(file, `key ${JSON.stringify(key)}: ${why}`);
  };
  if (!isValueType(kv.type)) bad(`unknown value type ${String(kv.type)}`);
  b.u32(kv.type);
  if (kv.type !== T.ARRAY) return scalar(b, kv.type, kv.value, bad);
  const et = kv.arrayType;
  if (et === undefined || !isValueType(et)) return bad('an ARRAY needs a valid arrayType');
  if (et === T.ARRAY) bad('nested arrays are not supported (gguf.cpp rejects them)');
  const v: GgufValue = kv.value;
  if (typeof v !== 'object' || v === null || typeof (v as ArrayLike<unknown>).length !== 'number') return bad('ARRAY value is not an array');
  const arr = v as ArrayLike<unknown>;
  b.u32(et).u64(arr.length);
  // Fast path: a typed array of exactly the element type is already the LE payload.
  const Ctor = TYPED[et];
  if (Ctor && v instanceof Ctor) {
    const view = v as ArrayBufferView;
    b.bytes(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    return;
  }
  for (let i = 0; i < arr.length; i++) scalar(b, et, arr[i], (why) => bad(`element ${i}: ${why}`));
}

/** magic, version, tensor count, metadata count (counts are u64; written as given, unchecked). */
export function encodeHeader(b: ByteBuilder, version: number, nTensors: number | bigint, nKv: number | bigint): void {
  b.bytes(utf8.encode('GGUF')).u32(version).u64(nTensors).u64(nKv);
}

/** One metadata entry: key, then type and value (checked against the type). */
export function encodeKv(b: ByteBuilder, file: string, key: string, kv: GgufKv): void {
  encodeValue(b.string(key), file, key, kv);
}

/** One tensor info: name, n_dims, ne[], ggml type, data offset relative to the data section (unchecked). */
export function encodeTensorInfo(b: ByteBuilder, name: string, ne: readonly (number | bigint)[], type: number, relOffset: number | bigint): void {
  b.string(name).u32(ne.length);
  for (const d of ne) b.u64(d);
  b.u32(type).u64(relOffset);
}
