// Decoding of GGUF metadata values (docs/formats.md §1.1): scalars, strings and
// arrays of one element type. Array lengths are checked against the bytes left
// in the file before any allocation; nested arrays are rejected, as gguf.cpp does.
import type { HeaderCursor } from './cursor.ts';
import { GgufValueType as T, isValueType, valueTypeSize, type GgufKv, type GgufValue } from './types.ts';

/** A signed or unsigned 64-bit integer as a number when safe, bigint otherwise. */
function int64(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function bool(cur: HeaderCursor, what: string): boolean {
  const b = cur.u8(what);
  if (b > 1) cur.fail(`${what} is ${b}; a GGUF bool must be 0 or 1`);
  return b === 1;
}

export function readScalar(cur: HeaderCursor, t: T): GgufValue {
  switch (t) {
    case T.UINT8:
      return cur.u8('UINT8 value');
    case T.INT8:
      return cur.i8('INT8 value');
    case T.UINT16:
      return cur.u16('UINT16 value');
    case T.INT16:
      return cur.i16('INT16 value');
    case T.UINT32:
      return cur.u32('UINT32 value');
    case T.INT32:
      return cur.i32('INT32 value');
    case T.FLOAT32:
      return cur.f32('FLOAT32 value');
    case T.BOOL:
      return bool(cur, 'BOOL value');
    case T.STRING:
      return cur.string('string value');
    case T.UINT64:
      return int64(cur.u64('UINT64 value'));
    case T.INT64:
      return int64(cur.i64('INT64 value'));
    case T.FLOAT64:
      return cur.f64('FLOAT64 value');
    default:
      return cur.fail(`value type ${T[t]} is not a scalar`);
  }
}

function readArray(cur: HeaderCursor, et: T, n: number): GgufValue {
  if (et === T.STRING) {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(cur.string(`string ${i} of ${n}`));
    return out;
  }
  if (et === T.BOOL) {
    const out: boolean[] = [];
    for (let i = 0; i < n; i++) out.push(bool(cur, `bool ${i} of ${n}`));
    return out;
  }
  const bytes = cur.copy(n * valueTypeSize(et), `array of ${n} ${T[et]}`);
  const buf = bytes.buffer;
  switch (et) {
    case T.UINT8:
      return bytes;
    case T.INT8:
      return new Int8Array(buf, 0, n);
    case T.UINT16:
      return new Uint16Array(buf, 0, n);
    case T.INT16:
      return new Int16Array(buf, 0, n);
    case T.UINT32:
      return new Uint32Array(buf, 0, n);
    case T.INT32:
      return new Int32Array(buf, 0, n);
    case T.FLOAT32:
      return new Float32Array(buf, 0, n);
    case T.UINT64:
      return new BigUint64Array(buf, 0, n);
    case T.INT64:
      return new BigInt64Array(buf, 0, n);
    case T.FLOAT64:
      return new Float64Array(buf, 0, n);
    default:
      return cur.fail(`array element type ${T[et]} is not supported`);
  }
}

/** The value that follows a key: u32 type, then the payload. */
export function readValue(cur: HeaderCursor): GgufKv {
  const type = cur.u32('value type');
  if (!isValueType(type)) cur.fail(`unknown value type ${type} (valid: 0..12)`);
  if (type !== T.ARRAY) return { type, value: readScalar(cur, type) };
  const et = cur.u32('array element type');
  if (!isValueType(et)) cur.fail(`unknown array element type ${et} (valid: 0..12)`);
  if (et === T.ARRAY) cur.fail('nested arrays are not supported (gguf.cpp rejects them too)');
  const n = cur.u64Num('array length');
  const min = et === T.STRING ? 8 : valueTypeSize(et); // a string is at least its u64 length
  if (n * min > cur.left())
    cur.fail(`array of ${n} ${T[et]} needs at least ${n * min} bytes, but only ${cur.left()} remain in the file`);
  return { type, arrayType: et, value: readArray(cur, et, n) };
}
