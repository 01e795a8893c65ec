// safetensors reader/writer: the real stories260K file (layout, byte-identical
// rewrite), every dtype's f32 conversion on hand-checked values, row slicing,
// and one typed error per header rule.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FormatError, SafetensorsError, UnsupportedError } from '../../src/base/errors.ts';
import { openSafetensors } from '../../src/io/safetensors/reader.ts';
import { encodeSafetensors, writeSafetensors, type SafetensorsWriteTensor } from '../../src/io/safetensors/writer.ts';
import { bytesSource } from '../../src/io/source.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { fixture } from '../helpers/fixtures.ts';

const STORIES = fixture('models/stories260K/model.safetensors');

/** Expected HF shapes of stories260K (SOURCES.md): dim 64, 5 layers, 8 heads × 8, 4 kv heads, ffn 172, vocab 512. */
function storiesShapes(): Map<string, number[]> {
  const m = new Map<string, number[]>([
    ['model.embed_tokens.weight', [512, 64]],
    ['model.norm.weight', [64]],
  ]);
  for (let l = 0; l < 5; l++) {
    const p = `model.layers.${l}.`;
    m.set(`${p}input_layernorm.weight`, [64]);
    m.set(`${p}post_attention_layernorm.weight`, [64]);
    m.set(`${p}self_attn.q_proj.weight`, [64, 64]);
    m.set(`${p}self_attn.k_proj.weight`, [32, 64]);
    m.set(`${p}self_attn.v_proj.weight`, [32, 64]);
    m.set(`${p}self_attn.o_proj.weight`, [64, 64]);
    m.set(`${p}mlp.gate_proj.weight`, [172, 64]);
    m.set(`${p}mlp.up_proj.weight`, [172, 64]);
    m.set(`${p}mlp.down_proj.weight`, [64, 172]);
  }
  return m;
}

describe.skipIf(!STORIES)('stories260K model.safetensors', () => {
  it('has the 47 tensors, shapes and metadata of SOURCES.md', async () => {
    const st = await openSafetensors(await fileSource(STORIES!));
    try {
      expect(st.headerLength).toBe(4856);
      expect(st.dataStart).toBe(8 + 4856);
      expect([...st.metadata]).toEqual([['format', 'pt']]);
      expect(st.warnings).toEqual([]);
      const want = storiesShapes();
      expect(st.tensors.size).toBe(47);
      for (const [name, t] of st.tensors) {
        expect(t.dtype, name).toBe('F32');
        expect([...t.shape], name).toEqual(want.get(name));
      }
      const params = [...st.tensors.values()].reduce((a, t) => a + t.numel, 0);
      expect(params).toBe(260_032);
    } finally {
      await st.close();
    }
  });

  it('reads tensors and row ranges as the raw little-endian floats', async () => {
    const raw = readFileSync(STORIES!);
    const st = await openSafetensors(await fileSource(STORIES!));
    try {
      const t = st.tensors.get('model.layers.2.mlp.down_proj.weight')!;
      const start = st.dataStart + t.begin;
      const want = new Float32Array(raw.buffer.slice(raw.byteOffset + start, raw.byteOffset + start + t.end - t.begin));
      expect(await st.readTensorF32(t.name)).toEqual(want);
      const rows = await st.readTensorF32(t.name, { start: 10, end: 13 });
      expect(rows).toEqual(want.subarray(10 * 172, 13 * 172));
      await expect(st.readTensorF32(t.name, { start: 60, end: 65 })).rejects.toThrow(SafetensorsError);
      await expect(st.readTensorF32('nope')).rejects.toThrow(/no tensor named "nope"/);
    } finally {
      await st.close();
    }
  });

  it('rewriting every tensor in file order reproduces the file byte for byte', async () => {
    const raw = new Uint8Array(readFileSync(STORIES!));
    const st = await openSafetensors(bytesSource(raw, 'model.safetensors'));
    const tensors: SafetensorsWriteTensor[] = [...st.tensors.values()].map((t) => ({
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      data: () => st.readTensorBytes(t.name),
    }));
    const chunks: Uint8Array[] = [];
    let maxChunk = 0;
    const size = await writeSafetensors({ write: async (c) => void (chunks.push(c.slice()), (maxChunk = Math.max(maxChunk, c.length))) }, tensors, {
      metadata: st.metadata,
    });
    expect(size).toBe(raw.length);
    expect(maxChunk).toBe(131072); // the embedding: tensors are streamed one at a time, never concatenated
    const out = new Uint8Array(size);
    let pos = 0;
    for (const c of chunks) (out.set(c, pos), (pos += c.length));
    expect(Buffer.from(out).equals(Buffer.from(raw))).toBe(true);
    const back = await openSafetensors(bytesSource(out, 'rewritten.safetensors'));
    expect(back.warnings).toEqual([]);
    expect(await back.readTensorF32('model.norm.weight')).toEqual(await st.readTensorF32('model.norm.weight'));
  });
});

describe('dtype conversion', () => {
  const u16 = (...v: number[]) => new Uint16Array(v);
  const cases: { t: SafetensorsWriteTensor; want: number[] }[] = [
    { t: { name: 'f32', dtype: 'F32', shape: [3], data: new Float32Array([1.5, -0, 3.4e38]) }, want: [1.5, -0, Math.fround(3.4e38)] },
    // f16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), +inf, 0.333251953125 (0x3555)
    { t: { name: 'f16', dtype: 'F16', shape: [2, 3], data: u16(0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x3555) }, want: [1, -2, 65504, 2 ** -24, Infinity, 0.333251953125] },
    // bf16: 1, -2, 3.140625 (0x4049), 1e-38 subnormal region 0x0080 = 2^-126
    { t: { name: 'bf16', dtype: 'BF16', shape: [4], data: u16(0x3f80, 0xc000, 0x4049, 0x0080) }, want: [1, -2, 3.140625, 2 ** -126] },
    { t: { name: 'f64', dtype: 'F64', shape: [2], data: new Uint8Array(new Float64Array([0.1, -1e300]).buffer) }, want: [Math.fround(0.1), -Infinity] },
    { t: { name: 'i8', dtype: 'I8', shape: [3], data: new Int8Array([-128, 0, 127]) }, want: [-128, 0, 127] },
    { t: { name: 'u8', dtype: 'U8', shape: [2], data: new Uint8Array([0, 255]) }, want: [0, 255] },
    { t: { name: 'bool', dtype: 'BOOL', shape: [3], data: new Uint8Array([0, 1, 7]) }, want: [0, 1, 1] },
    { t: { name: 'i16', dtype: 'I16', shape: [2], data: new Uint8Array(new Int16Array([-32768, 12345]).buffer) }, want: [-32768, 12345] },
    { t: { name: 'u16', dtype: 'U16', shape: [1], data: u16(65535) }, want: [65535] },
    { t: { name: 'i32', dtype: 'I32', shape: [2], data: new Int32Array([-7, 16777217]) }, want: [-7, 16777216] },
    { t: { name: 'u32', dtype: 'U32', shape: [1], data: new Uint8Array(new Uint32Array([4294967295]).buffer) }, want: [4294967296] },
    { t: { name: 'i64', dtype: 'I64', shape: [2], data: new Uint8Array(new BigInt64Array([-5n, 1n << 40n]).buffer) }, want: [-5, 2 ** 40] },
    { t: { name: 'u64', dtype: 'U64', shape: [1], data: new Uint8Array(new BigUint64Array([3n]).buffer) }, want: [3] },
    // e4m3: 1.0 (0x38), 448 max (0x7e), NaN (0x7f), 2^-9 smallest subnormal (0x01), -1.75 (0xbe)
    { t: { name: 'e4m3', dtype: 'F8_E4M3', shape: [5], data: new Uint8Array([0x38, 0x7e, 0x7f, 0x01, 0xbe]) }, want: [1, 448, NaN, 2 ** -9, -1.75] },
    // e5m2: 1.0 (0x3c), 57344 max (0x7b), inf (0x7c), 2^-16 subnormal (0x01)
    { t: { name: 'e5m2', dtype: 'F8_E5M2', shape: [4], data: new Uint8Array([0x3c, 0x7b, 0x7c, 0x01]) }, want: [1, 57344, Infinity, 2 ** -16] },
    { t: { name: 'scalar', dtype: 'F32', shape: [], data: new Float32Array([42]) }, want: [42] },
    { t: { name: 'empty', dtype: 'F16', shape: [0, 3], data: new Uint8Array(0) }, want: [] },
  ];

  it('writes every dtype and reads back the hand-checked f32 values', async () => {
    const bytes = await encodeSafetensors(cases.map((c) => c.t), { metadata: { format: 'pt', '1': 'integer-like key keeps its place' } });
    const hdrLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(hdrLen % 8).toBe(0);
    const st = await openSafetensors(bytesSource(bytes, 'dtypes.safetensors'));
    expect(st.warnings).toEqual([]);
    expect([...st.metadata.keys()].sort()).toEqual(['1', 'format']);
    expect([...st.tensors.keys()]).toEqual(cases.map((c) => c.t.name)); // data order = input order
    for (const c of cases) expect([...(await st.readTensorF32(c.t.name))], c.t.name).toEqual(c.want);
  });

  it('decodes from a source whose slices are not element-aligned', async () => {
    const bytes = await encodeSafetensors([
      { name: 'a', dtype: 'U8', shape: [1], data: new Uint8Array([9]) },
      { name: 'b', dtype: 'F32', shape: [2], data: new Float32Array([0.25, -8]) },
      { name: 'c', dtype: 'BF16', shape: [1], data: u16(0x3f80) },
    ]);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const st = await openSafetensors(bytesSource(shifted.subarray(1), 'odd.safetensors'));
    expect([...(await st.readTensorF32('b'))]).toEqual([0.25, -8]); // data at file offset 8+N+1: odd
    expect([...(await st.readTensorF32('c'))]).toEqual([1]);
  });

  it('opens files with unsupported dtypes but refuses to convert them', async () => {
    const bytes = await encodeSafetensors([{ name: 'packed', dtype: 'F4', shape: [4], data: new Uint8Array([0x12, 0x34]) }]);
    const st = await openSafetensors(bytesSource(bytes, 'f4.safetensors'));
    expect([...(await st.readTensorBytes('packed'))]).toEqual([0x12, 0x34]);
    await expect(st.readTensorF32('packed')).rejects.toThrow(UnsupportedError);
  });
});

/** A file from a header object (serialized as given) and a data section of `dataBytes` bytes. */
function rawFile(header: unknown, dataBytes: number, opts: { prefix?: bigint; text?: string } = {}): Uint8Array {
  const json = new TextEncoder().encode(opts.text ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, opts.prefix ?? BigInt(json.length), true);
  out.set(json, 8);
  return out;
}
const ok = (extra: Record<string, unknown> = {}) => ({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, ...extra });

describe('header validation', () => {
  const bad: [string, Uint8Array, RegExp][] = [
    ['shorter than 8 bytes', new Uint8Array(5), /too short/],
    ['huge length prefix', rawFile(ok(), 8, { prefix: 2n ** 64n - 1n }), /exceeds the 100000000-byte limit/],
    ['length just over the cap', rawFile(ok(), 8, { prefix: 100_000_001n }), /exceeds/],
    ['length past end of file', rawFile(ok(), 8, { prefix: 10_000n }), /runs past the end/],
    ['zero length', rawFile(ok(), 8, { prefix: 0n }), /too small/],
    ['not JSON', rawFile(null, 0, { text: '{"a": ' }), /not valid JSON/],
    ['not starting with {', rawFile(null, 0, { text: ' {}' }), /does not start with/],
    ['JSON array', rawFile(null, 0, { text: '{}' }).map((b, i) => (i === 8 ? 0x5b : i === 9 ? 0x5d : b)), /does not start with/],
    ['invalid UTF-8', rawFile(null, 0, { text: '{"\u00e9":1}' }).map((b, i) => (i === 10 ? 0xff : b)), /UTF-8/],
    ['entry not an object', rawFile({ a: 3 }, 0), /entry is not an object/],
    ['unknown dtype', rawFile(ok({ b: { dtype: 'F12', shape: [], data_offsets: [8, 8] } }), 8), /unknown dtype "F12"/],
    ['negative shape', rawFile({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 8), /non-negative integer/],
    ['fractional shape', rawFile({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 8] } }, 8), /non-negative integer/],
    ['overflowing shape', rawFile({ a: { dtype: 'F32', shape: [2 ** 30, 2 ** 30], data_offsets: [0, 8] } }, 8), /too many elements/],
    ['size mismatch', rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /is 12 bytes but data_offsets span 8/],
    ['sub-byte size', rawFile({ a: { dtype: 'F4', shape: [3], data_offsets: [0, 2] } }, 8), /not a whole number of bytes/],
    ['offsets past data', rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 8), /only 8 bytes \(file truncated\?\)/],
    ['begin after end', rawFile({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, 8), /0 ≤ begin ≤ end/],
    ['offsets not a pair', rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0] } }, 8), /\[begin, end\]/],
    ['overlap', rawFile(ok({ b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }), 8), /overlaps tensor a/],
    ['metadata value not string', rawFile(ok({ __metadata__: { format: 1 } }), 8), /must be a string/],
    ['metadata not object', rawFile(ok({ __metadata__: ['pt'] }), 8), /__metadata__ must be an object/],
  ];
  for (const [what, bytes, msg] of bad)
    it(`rejects ${what}`, async () => {
      const err = await openSafetensors(bytesSource(bytes, 'bad.safetensors')).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SafetensorsError);
      expect((err as FormatError).file).toBe('bad.safetensors');
      expect((err as Error).message).toMatch(msg);
    });

  it('accepts gaps and trailing bytes with warnings (the reference reader refuses them)', async () => {
    const st = await openSafetensors(bytesSource(rawFile({ a: { dtype: 'U8', shape: [2], data_offsets: [4, 6] } }, 10), 'gappy'));
    expect(st.warnings).toEqual(['4 unused bytes before tensor a at data offset 0', '4 unused bytes after the last tensor']);
    expect([...(await st.readTensorBytes('a'))]).toEqual([0, 0]);
  });

  it('writer refuses inconsistent input with a typed error', async () => {
    await expect(encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [3], data: new Float32Array(2) }])).rejects.toThrow(/got 8 bytes/);
    await expect(
      encodeSafetensors([
        { name: 'x', dtype: 'F32', shape: [1], data: new Float32Array(1) },
        { name: 'x', dtype: 'F32', shape: [1], data: new Float32Array(1) },
      ]),
    ).rejects.toThrow(SafetensorsError);
    await expect(encodeSafetensors([{ name: 'x', dtype: 'F4', shape: [3], data: new Uint8Array(2) }])).rejects.toThrow(/whole number/);
  });
});
