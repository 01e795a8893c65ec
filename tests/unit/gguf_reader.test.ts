// The staged GGUF reader on the real fixtures (values from SOURCES.md) and on
// hand-built malformed files: each defect must be a GgufError that names the
// file and the key or tensor at fault.
import { describe, expect, it } from 'vitest';
import { FormatError, GgufError, UnsupportedError } from '../../src/base/errors.ts';
import { bytesSource, type ByteSource } from '../../src/io/source.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { ByteBuilder, encodeHeader, encodeKv, encodeTensorInfo } from '../../src/io/gguf/encode.ts';
import { kvBool, kvFloat, kvInt, kvNumberArray, kvString, kvStringArray, kvUint } from '../../src/io/gguf/kv.ts';
import { findTensor, readGguf, readTensorBytes, readTensorF32 } from '../../src/io/gguf/reader.ts';
import { GgmlType, GgufValueType as T, type GgufKv } from '../../src/io/gguf/types.ts';
import { fixture } from '../helpers/fixtures.ts';

interface RawTensor {
  name: string;
  ne: (number | bigint)[];
  type: number;
  offset: number | bigint;
}

/** Assemble a GGUF from parts without the writer's checks, so defects can be planted. */
function build(p: {
  version?: number;
  kv?: Array<[string, GgufKv]>;
  tensors?: RawTensor[];
  nKv?: number | bigint;
  nTensors?: number | bigint;
  patchKv?: (b: ByteBuilder) => void;
  data?: number;
  alignment?: number;
}): Uint8Array {
  const kv = p.kv ?? [];
  const tensors = p.tensors ?? [];
  const b = new ByteBuilder();
  encodeHeader(b, p.version ?? 3, p.nTensors ?? tensors.length, p.nKv ?? kv.length + (p.patchKv ? 1 : 0));
  for (const [k, v] of kv) encodeKv(b, 'test', k, v);
  p.patchKv?.(b);
  for (const t of tensors) encodeTensorInfo(b, t.name, t.ne, t.type, t.offset);
  const align = p.alignment ?? 32;
  if (tensors.length) b.zeros((align - (b.length % align)) % align);
  b.zeros(p.data ?? 0);
  return b.finish();
}

const u32 = (value: number): GgufKv => ({ type: T.UINT32, value });
const q40 = (name: string, ne: (number | bigint)[], offset: number | bigint = 0): RawTensor => ({ name, ne, type: GgmlType.Q4_0, offset });

async function parseError(bytes: Uint8Array, name = 'bad.gguf'): Promise<FormatError> {
  try {
    await readGguf(bytesSource(bytes, name));
  } catch (e) {
    if (e instanceof FormatError) return e;
    throw new Error(`expected a FormatError, got ${String(e)}`);
  }
  throw new Error('expected a FormatError, but the file parsed');
}

describe('readGguf on fixtures', () => {
  it('stories260K.gguf: header, metadata and tensor table as documented in SOURCES.md', async () => {
    const p = fixture('models/stories260K.gguf');
    if (!p) return;
    const f = await readGguf(await fileSource(p));
    expect(f.version).toBe(3);
    expect(f.kv.size).toBe(19);
    expect(f.tensors.length).toBe(48);
    expect(kvString(f, 'general.architecture')).toBe('llama');
    expect(kvUint(f, 'llama.embedding_length')).toBe(64);
    expect(kvUint(f, 'llama.feed_forward_length')).toBe(172);
    expect(kvUint(f, 'tokenizer.ggml.seperator_token_id')).toBe(4294967295);
    expect(kvFloat(f, 'llama.attention.layer_norm_rms_epsilon')).toBe(Math.fround(1e-5));
    const tokens = kvStringArray(f, 'tokenizer.ggml.tokens');
    expect(tokens.length).toBe(512);
    expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(kvNumberArray(f, 'tokenizer.ggml.token_type')[3]).toBe(6);
    expect(kvNumberArray(f, 'tokenizer.ggml.scores')[511]).toBe(-252);
    const emb = findTensor(f, 'token_embd.weight')!;
    expect(emb).toMatchObject({ ne: [64, 512], type: GgmlType.F32, nbytes: 131072, nelements: 32768, offset: f.dataOffset });
    expect(f.dataOffset % f.alignment).toBe(0);
    expect(findTensor(f, 'blk.0.attn_k.weight')!.ne).toEqual([64, 32]);
    const x = await readTensorF32(f, emb);
    const raw = await readTensorBytes(f, emb);
    expect(x[1]).toBe(new DataView(raw.buffer, raw.byteOffset).getFloat32(4, true));
    await f.source.close?.();
  });

  it('reads the header in growing slices: a 16-byte first slice gives the same result; reads stay bounded', async () => {
    const p = fixture('tokenizers/llama.cpp-vocab/ggml-vocab-deepseek-llm.gguf');
    if (!p) return;
    const src = await fileSource(p);
    const reads: number[] = [];
    const spy: ByteSource = { name: src.name, size: src.size, read: (o, n) => (reads.push(n), src.read(o, n)) };
    const small = await readGguf(spy, { initialReadBytes: 16 });
    const smallReads = reads.splice(0);
    const normal = await readGguf(spy);
    expect([...small.kv.keys()]).toEqual([...normal.kv.keys()]);
    expect(small.kv).toEqual(normal.kv);
    expect(normal.tensors).toEqual([]);
    expect(Math.max(...reads, ...smallReads)).toBeLessThanOrEqual(src.size);
    // Slices double when an item (here a 100k-string array) does not fit, so the
    // total read stays within a small multiple of the header size.
    const total = smallReads.reduce((a, b) => a + b, 0);
    console.log(`${src.name}: ${src.size} B header read in ${smallReads.length} slices from 16 B (${total} B total), ${reads.length} from 1 MiB (${reads.reduce((a, b) => a + b, 0)} B)`);
    expect(total).toBeLessThan(4 * src.size);
    await src.close?.();
  });

  it('reads only the first 1 MiB of a 7 MB model to parse its 12 kB header', async () => {
    const p = fixture('models/random-llama-256/random-llama-256-F32.gguf');
    if (!p) return;
    const src = await fileSource(p);
    const reads: number[] = [];
    const f = await readGguf({ name: src.name, size: src.size, read: (o, n) => (reads.push(n), src.read(o, n)) });
    expect(reads).toEqual([1 << 20]);
    expect(f.tensors.length).toBe(21);
    await src.close?.();
  });
});

describe('readGguf on synthetic files', () => {
  it('reads v2 files, 64-bit integers (number when safe, bigint otherwise) and custom alignment', async () => {
    const bytes = build({
      version: 2,
      kv: [
        ['general.alignment', u32(64)],
        ['small', { type: T.UINT64, value: 5 }],
        ['big', { type: T.UINT64, value: 2n ** 60n }],
        ['neg', { type: T.INT64, value: -7 }],
        ['flag', { type: T.BOOL, value: true }],
        ['arr', { type: T.ARRAY, arrayType: T.INT16, value: new Int16Array([-1, 2]) }],
      ],
      tensors: [q40('a', [32, 2]), q40('b', [64], 64)],
      alignment: 64,
      data: 128,
    });
    const f = await readGguf(bytesSource(bytes, 'v2.gguf'));
    expect(f.version).toBe(2);
    expect(f.alignment).toBe(64);
    expect(f.dataOffset % 64).toBe(0);
    expect(f.kv.get('small')!.value).toBe(5);
    expect(f.kv.get('big')!.value).toBe(2n ** 60n);
    expect(kvInt(f, 'neg')).toBe(-7);
    expect(kvBool(f, 'flag')).toBe(true);
    expect([...(f.kv.get('arr')!.value as Int16Array)]).toEqual([-1, 2]);
    expect(f.tensors.map((t) => [t.offset - f.dataOffset, t.nbytes])).toEqual([
      [0, 36],
      [64, 36],
    ]);
  });

  it('kv getters name the key when it is missing or mistyped, and use fallbacks', async () => {
    const f = await readGguf(bytesSource(build({ kv: [['s', { type: T.STRING, value: 'x' }]] }), 'k.gguf'));
    expect(() => kvUint(f, 'llama.block_count')).toThrow(/^k\.gguf: required key "llama\.block_count" is missing$/);
    expect(() => kvInt(f, 's')).toThrow(/key "s" has type STRING, expected an integer/);
    expect(() => kvStringArray(f, 's')).toThrow(GgufError);
    expect(kvUint(f, 'missing', 7)).toBe(7);
    expect(kvString(f, 's', 'unused')).toBe('x');
  });

  it('refuses to decode unsupported block types, naming the tensor and the type', async () => {
    const bytes = build({ tensors: [{ name: 'blk.0.ffn_up.weight', ne: [256], type: GgmlType.Q8_K, offset: 0 }], data: 320 });
    const f = await readGguf(bytesSource(bytes, 'iq.gguf'));
    expect(f.tensors[0].nbytes).toBe(292);
    await expect(readTensorF32(f, f.tensors[0])).rejects.toThrow(UnsupportedError);
    await expect(readTensorF32(f, f.tensors[0])).rejects.toThrow(/iq\.gguf: tensor blk\.0\.ffn_up\.weight uses ggml block type Q8_K/);
  });

  const big = 2n ** 62n;
  const cases: Array<[string, () => Uint8Array, RegExp]> = [
    ['bad magic', () => new TextEncoder().encode('GGML' + '\0'.repeat(40)), /not a GGUF file/],
    ['version 1', () => build({ version: 1 }), /GGUF version 1 is not supported/],
    ['version 4', () => build({ version: 4 }), /unsupported GGUF version 4/],
    ['big-endian', () => build({ version: 0x03000000 }), /big-endian/],
    ['truncated header', () => build({}).subarray(0, 10), /GGUF header needs 24 bytes.*truncated/],
    ['huge kv count', () => build({ nKv: 2n ** 40n }), /header claims 1099511627776 metadata entries/],
    ['count beyond 2^53', () => build({ nKv: big }), /metadata count is 4611686018427387904, larger than any file/],
    ['duplicate key', () => build({ kv: [['a', u32(1)], ['a', u32(2)]] }), /key "a": duplicate key/],
    ['unknown value type', () => build({ patchKv: (b) => b.string('x').u32(13) }), /key "x": unknown value type 13/],
    ['nested array', () => build({ patchKv: (b) => b.string('x').u32(T.ARRAY).u32(T.ARRAY).u64(0) }), /key "x": nested arrays/],
    ['array too long', () => build({ patchKv: (b) => b.string('x').u32(T.ARRAY).u32(T.FLOAT32).u64(1e9) }), /key "x": array of 1000000000 FLOAT32 needs at least/],
    ['string too long', () => build({ patchKv: (b) => b.string('x').u32(T.STRING).u64(999) }), /key "x": string value claims 999 bytes/],
    ['bool not 0/1', () => build({ patchKv: (b) => b.string('x').u32(T.BOOL).u8(2) }), /key "x": BOOL value is 2/],
    ['alignment not a power of two', () => build({ kv: [['general.alignment', u32(48)]] }), /"general\.alignment" is 48; it must be a power of two/],
    ['alignment of the wrong type', () => build({ kv: [['general.alignment', { type: T.INT32, value: 32 }]] }), /"general\.alignment" must be a UINT32/],
    ['zero dims', () => build({ tensors: [q40('t', [])], data: 32 }), /tensor "t": has 0 dimensions/],
    ['five dims', () => build({ tensors: [q40('t', [32, 1, 1, 1, 1])], data: 32 }), /tensor "t": has 5 dimensions/],
    ['zero-length dim', () => build({ tensors: [q40('t', [32, 0])], data: 32 }), /tensor "t": ne\[1\] is 0/],
    ['row not a multiple of the block', () => build({ tensors: [q40('t', [48])], data: 64 }), /tensor "t": row length ne\[0\]=48 is not a multiple of the Q4_0 block size 32/],
    ['unknown ggml type', () => build({ tensors: [{ name: 't', ne: [32], type: 4, offset: 0 }], data: 32 }), /tensor "t": has ggml type id 4/],
    ['misaligned offset', () => build({ tensors: [q40('t', [32], 16)], data: 64 }), /tensor "t": data offset 16 is not a multiple of the alignment 32/],
    ['data past the end', () => build({ tensors: [q40('t', [32, 4])], data: 32 }), /tensor "t": data ends at byte \d+, but the file has \d+/],
    ['size overflow', () => build({ tensors: [q40('t', [2n ** 52n, 2n ** 52n])], data: 32 }), /tensor "t": shape .* needs .* more than the whole file/],
    ['overlapping tensors', () => build({ tensors: [q40('a', [64]), q40('b', [32], 32)], data: 96 }), /tensor "b": data at byte \d+ overlaps tensor "a"/],
    ['duplicate tensor', () => build({ tensors: [q40('a', [32]), q40('a', [32], 32)], data: 64 }), /tensor "a": duplicate tensor name/],
    ['name too long', () => build({ tensors: [q40('x'.repeat(64), [32])], data: 32 }), /tensor name is 64 bytes long; the limit is 63/],
    ['tensor count with no room', () => build({ nTensors: 1000 }), /1000 tensors, which need at least/],
  ];
  const UNSUPPORTED = new Set(['version 1', 'version 4', 'big-endian']);
  for (const [what, make, re] of cases) {
    it(`rejects: ${what}`, async () => {
      const e = await parseError(make());
      expect(e).toBeInstanceOf(UNSUPPORTED.has(what) ? UnsupportedError : GgufError);
      expect(e.message).toMatch(/^bad\.gguf: /);
      expect(e.message).toMatch(re);
    });
  }

  it('rejects every truncation of a valid file with a GgufError', async () => {
    const bytes = build({ kv: [['k', { type: T.ARRAY, arrayType: T.STRING, value: ['ab', 'cd'] }]], tensors: [q40('t', [32])], data: 32 });
    await readGguf(bytesSource(bytes)); // the whole file is valid
    for (let n = 0; n < bytes.length - 32; n++) expect(await parseError(bytes.subarray(0, n))).toBeInstanceOf(GgufError);
  });
});
