// The GGUF writer: every fixture read and written back must be byte-identical to
// the original (llama.cpp / gguf-py layout), every value type round-trips through
// the reader, and the state machine refuses out-of-order calls.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GgufError } from '../../src/base/errors.ts';
import { bytesSource } from '../../src/io/source.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { readGguf, readTensorBytes, readTensorF32 } from '../../src/io/gguf/reader.ts';
import { GgmlType, GgufValueType as T, type GgufKv } from '../../src/io/gguf/types.ts';
import { GgufWriter, MemorySink, writeGguf } from '../../src/io/gguf/writer.ts';
import { fixture } from '../helpers/fixtures.ts';

function ggufFixtures(): string[] {
  const out: string[] = [];
  for (const rel of ['models/stories260K.gguf', 'models/stories260K-quantized', 'models/random-llama-256', 'tokenizers/llama.cpp-vocab']) {
    const p = fixture(rel);
    if (!p) continue;
    if (p.endsWith('.gguf')) out.push(p);
    else for (const f of readdirSync(p).sort()) if (f.endsWith('.gguf')) out.push(join(p, f));
  }
  return out;
}

describe('writer round trip', () => {
  it('rewrites every fixture GGUF byte for byte', async () => {
    const files = ggufFixtures();
    if (files.length === 0) return;
    let tensors = 0;
    for (const path of files) {
      const f = await readGguf(await fileSource(path));
      const sink = new MemorySink();
      const size = await writeGguf(sink, f.kv, f.tensors, (t) => readTensorBytes(f, t as (typeof f.tensors)[number]), f.name);
      await f.source.close?.();
      const original = readFileSync(path);
      expect(size, path).toBe(original.length);
      const written = sink.bytes();
      const at = written.findIndex((v, i) => v !== original[i]);
      expect(at, `${path}: first differing byte`).toBe(-1);
      tensors += f.tensors.length;
    }
    console.log(`byte-identical rewrite of ${files.length} GGUF files (${tensors} tensors) from ${dirname(dirname(files[0]))}`);
  });
});

const ALL_TYPES: Array<[string, GgufKv]> = [
  ['u8', { type: T.UINT8, value: 255 }],
  ['i8', { type: T.INT8, value: -128 }],
  ['u16', { type: T.UINT16, value: 65535 }],
  ['i16', { type: T.INT16, value: -32768 }],
  ['u32', { type: T.UINT32, value: 4294967295 }],
  ['i32', { type: T.INT32, value: -2147483648 }],
  ['f32', { type: T.FLOAT32, value: Math.fround(0.1) }],
  ['bool', { type: T.BOOL, value: false }],
  ['str', { type: T.STRING, value: '\ufeffünïcødé ▁ 🦙' }],
  ['u64', { type: T.UINT64, value: 2n ** 64n - 1n }],
  ['i64', { type: T.INT64, value: -(2n ** 63n) }],
  ['f64', { type: T.FLOAT64, value: Math.PI }],
  ['a_u8', { type: T.ARRAY, arrayType: T.UINT8, value: new Uint8Array([1, 2]) }],
  ['a_i8', { type: T.ARRAY, arrayType: T.INT8, value: new Int8Array([-1]) }],
  ['a_u16', { type: T.ARRAY, arrayType: T.UINT16, value: new Uint16Array([7]) }],
  ['a_i16', { type: T.ARRAY, arrayType: T.INT16, value: new Int16Array([-7]) }],
  ['a_u32', { type: T.ARRAY, arrayType: T.UINT32, value: new Uint32Array([1, 2, 3]) }],
  ['a_i32', { type: T.ARRAY, arrayType: T.INT32, value: new Int32Array([-3]) }],
  ['a_f32', { type: T.ARRAY, arrayType: T.FLOAT32, value: new Float32Array([0.5, -2]) }],
  ['a_bool', { type: T.ARRAY, arrayType: T.BOOL, value: [true, false] }],
  ['a_str', { type: T.ARRAY, arrayType: T.STRING, value: ['a', '', 'b c'] }],
  ['a_u64', { type: T.ARRAY, arrayType: T.UINT64, value: new BigUint64Array([2n ** 63n]) }],
  ['a_i64', { type: T.ARRAY, arrayType: T.INT64, value: new BigInt64Array([-1n]) }],
  ['a_f64', { type: T.ARRAY, arrayType: T.FLOAT64, value: new Float64Array([1e300]) }],
  ['a_empty', { type: T.ARRAY, arrayType: T.STRING, value: [] }],
];

describe('writer', () => {
  it('round-trips every value type and tensor data through the reader', async () => {
    const sink = new MemorySink();
    const w = new GgufWriter(sink, 'types.gguf');
    w.addKv('general.alignment', { type: T.UINT32, value: 64 });
    for (const [k, v] of ALL_TYPES) w.addKv(k, v);
    const f32 = new Float32Array([1, -2, 3.5]);
    w.addTensorInfo({ name: 'vec', ne: [3], type: GgmlType.F32 });
    w.addTensorInfo({ name: 'q', ne: [32, 2], type: GgmlType.Q8_0 });
    await w.writeHeader();
    await w.writeKvData();
    await w.writeTensorInfos();
    await w.writeTensorData('vec', new Uint8Array(f32.buffer));
    const q = new Uint8Array(68).map((_, i) => i);
    await w.writeTensorData('q', q.subarray(0, 10)); // streamed in chunks
    await w.writeTensorData('q', q.subarray(10));
    const size = await w.finish();
    expect(size).toBe(sink.length);
    const f = await readGguf(bytesSource(sink.bytes(), 'types.gguf'));
    for (const [k, v] of ALL_TYPES) {
      const got = f.kv.get(k)!;
      expect(got.type, k).toBe(v.type);
      expect(got.arrayType, k).toBe(v.arrayType);
      expect(got.value, k).toEqual(v.value);
    }
    expect(f.alignment).toBe(64);
    expect(f.tensors.map((t) => t.offset - f.dataOffset)).toEqual([0, 64]);
    expect([...(await readTensorF32(f, f.tensors[0]))]).toEqual([1, -2, 3.5]);
    expect(await readTensorBytes(f, f.tensors[1])).toEqual(q);
    expect(size % 64).toBe(0); // the last tensor is padded too
  });

  it('refuses calls out of order', async () => {
    const w = new GgufWriter(new MemorySink(), 'order.gguf');
    w.addTensorInfo({ name: 'a', ne: [4], type: GgmlType.F32 });
    w.addTensorInfo({ name: 'b', ne: [4], type: GgmlType.F32 });
    await expect(w.writeKvData()).rejects.toThrow(/writeKvData\(\) called in state "setup"/);
    await expect(w.writeTensorData('a', new Uint8Array(16))).rejects.toThrow(GgufError);
    await w.writeHeader();
    expect(() => w.addKv('late', { type: T.BOOL, value: true })).toThrow(/addKv\(\) called in state "header"/);
    await expect(w.writeTensorInfos()).rejects.toThrow(/expected kv/);
    await w.writeKvData();
    await w.writeTensorInfos();
    await expect(w.writeTensorData('b', new Uint8Array(16))).rejects.toThrow(/"b" written out of order \(expected "a"\)/);
    await expect(w.writeTensorData('a', new Uint8Array(17))).rejects.toThrow(/17 bytes given, but F32 \[4\] is 16/);
    await w.writeTensorData('a', new Uint8Array(16));
    await expect(w.finish()).rejects.toThrow(/before tensor "b" was written/);
    await w.writeTensorData('b', new Uint8Array(16));
    await w.finish();
    await expect(w.finish()).rejects.toThrow(/state "done"/);
  });

  it('checks values and tensor shapes before writing anything', () => {
    const w = new GgufWriter(new MemorySink(), 'check.gguf');
    expect(() => w.addKv('n', { type: T.UINT8, value: 300 })).toThrow(/^check\.gguf: key "n": 300 is not a UINT8$/);
    expect(() => w.addKv('s', { type: T.ARRAY, arrayType: T.STRING, value: ['a', 3] as unknown as string[] })).toThrow(/key "s": element 1: 3 is not a string/);
    expect(() => w.addKv('a', { type: T.ARRAY, value: [] })).toThrow(/needs a valid arrayType/);
    expect(() => w.addKv('general.alignment', { type: T.UINT32, value: 24 })).toThrow(/power of two/);
    w.addKv('x', { type: T.BOOL, value: true });
    expect(() => w.addKv('x', { type: T.BOOL, value: true })).toThrow(/duplicate key "x"/);
    expect(() => w.addTensorInfo({ name: 't', ne: [48], type: GgmlType.Q4_K })).toThrow(/row length 48 is not a multiple of the Q4_K block size 256/);
    expect(() => w.addTensorInfo({ name: 't', ne: [0], type: GgmlType.F32 })).toThrow(/must be positive integers/);
    expect(() => w.addTensorInfo({ name: 't'.repeat(64), ne: [1], type: GgmlType.F32 })).toThrow(/shorter than 64 bytes/);
    expect(() => w.addTensorInfo({ name: 't', ne: [1], type: 5 as GgmlType })).toThrow(/unknown ggml type id 5/);
    expect(w.addTensorInfo({ name: 't', ne: [256, 3], type: GgmlType.Q4_K })).toBe(3 * 144);
  });
});
