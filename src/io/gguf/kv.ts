// Typed getters for GGUF metadata. Each throws a GgufError naming the file and the
// key when the key is missing (and no fallback was given) or has the wrong type,
// so model loaders read hyper-parameters in one line with a useful failure.
import { GgufError } from '../../base/errors.ts';
import { GgufValueType as T, type GgufFile, type GgufKv } from './types.ts';

const INT_TYPES = new Set([T.UINT8, T.INT8, T.UINT16, T.INT16, T.UINT32, T.INT32, T.UINT64, T.INT64]);
const FLOAT_TYPES = new Set([T.FLOAT32, T.FLOAT64]);

type Source = Pick<GgufFile, 'name' | 'kv'>;

function wrongType(f: Source, key: string, kv: GgufKv, expected: string): GgufError {
  const found = kv.type === T.ARRAY ? `ARRAY of ${T[kv.arrayType!]}` : T[kv.type];
  return new GgufError(f.name, `key "${key}" has type ${found}, expected ${expected}`);
}

/** The raw entry, or undefined. */
export function kvGet(f: Source, key: string): GgufKv | undefined {
  return f.kv.get(key);
}

/** The raw entry; a GgufError if it is missing. */
export function kvRequire(f: Source, key: string): GgufKv {
  const kv = f.kv.get(key);
  if (!kv) throw new GgufError(f.name, `required key "${key}" is missing`);
  return kv;
}

function lookup<V>(f: Source, key: string, fallback: V | undefined, read: (kv: GgufKv) => V): V {
  const kv = f.kv.get(key);
  if (kv) return read(kv);
  if (fallback !== undefined) return fallback;
  throw new GgufError(f.name, `required key "${key}" is missing`);
}

export function kvString(f: Source, key: string, fallback?: string): string {
  return lookup(f, key, fallback, (kv) => {
    if (kv.type !== T.STRING) throw wrongType(f, key, kv, 'STRING');
    return kv.value as string;
  });
}

/** Any integer type, as a safe JS integer. */
export function kvInt(f: Source, key: string, fallback?: number): number {
  return lookup(f, key, fallback, (kv) => {
    if (!INT_TYPES.has(kv.type)) throw wrongType(f, key, kv, 'an integer');
    if (typeof kv.value !== 'number') throw new GgufError(f.name, `key "${key}" is ${kv.value}, too large for a safe integer`);
    return kv.value;
  });
}

/** Any non-negative integer (counts, sizes, token ids). */
export function kvUint(f: Source, key: string, fallback?: number): number {
  const v = kvInt(f, key, fallback);
  if (v < 0) throw new GgufError(f.name, `key "${key}" is ${v}; it must not be negative`);
  return v;
}

/** FLOAT32 or FLOAT64. */
export function kvFloat(f: Source, key: string, fallback?: number): number {
  return lookup(f, key, fallback, (kv) => {
    if (!FLOAT_TYPES.has(kv.type)) throw wrongType(f, key, kv, 'FLOAT32 or FLOAT64');
    return kv.value as number;
  });
}

export function kvBool(f: Source, key: string, fallback?: boolean): boolean {
  return lookup(f, key, fallback, (kv) => {
    if (kv.type !== T.BOOL) throw wrongType(f, key, kv, 'BOOL');
    return kv.value as boolean;
  });
}

export function kvStringArray(f: Source, key: string, fallback?: string[]): string[] {
  return lookup(f, key, fallback, (kv) => {
    if (kv.type !== T.ARRAY || kv.arrayType !== T.STRING) throw wrongType(f, key, kv, 'ARRAY of STRING');
    return kv.value as string[];
  });
}

/** A numeric array of any integer or float element type, converted to numbers (e.g. token types, scores). */
export function kvNumberArray(f: Source, key: string, fallback?: ArrayLike<number>): ArrayLike<number> {
  return lookup(f, key, fallback, (kv) => {
    const et = kv.arrayType;
    if (kv.type !== T.ARRAY || et === undefined || !(INT_TYPES.has(et) || FLOAT_TYPES.has(et)))
      throw wrongType(f, key, kv, 'a numeric ARRAY');
    if (et === T.UINT64 || et === T.INT64) {
      const big = kv.value as BigInt64Array | BigUint64Array;
      const out = new Float64Array(big.length);
      for (let i = 0; i < big.length; i++) {
        if (big[i] > BigInt(Number.MAX_SAFE_INTEGER) || big[i] < BigInt(Number.MIN_SAFE_INTEGER))
          throw new GgufError(f.name, `key "${key}" element ${i} is ${big[i]}, too large for a safe integer`);
        out[i] = Number(big[i]);
      }
      return out;
    }
    return kv.value as ArrayLike<number>;
  });
}
