// GGUF reader fuzzing: 40,000 seeded mutations of small real and synthetic GGUF
// files (bit flips, boundary-value overwrites, truncations, duplicated keys and
// tensor names). Every input must end in success (then every tensor is read) or a
// typed FormatError, within 1 s, and no read may ask for more bytes than the
// input holds (allocation follows the input, never a hostile count).
import { describe, expect, it } from 'vitest';
import { FormatError, UnsupportedError } from '../../src/base/errors.ts';
import { bytesSource, type ByteSource } from '../../src/io/source.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { ByteBuilder, encodeHeader, encodeKv, encodeTensorInfo } from '../../src/io/gguf/encode.ts';
import { readGguf, readTensorBytes, readTensorF32 } from '../../src/io/gguf/reader.ts';
import { GgufValueType as T, type GgufKv } from '../../src/io/gguf/types.ts';
import { MemorySink, writeGguf, type GgufTensorSpec } from '../../src/io/gguf/writer.ts';
import { BLOCK_FORMATS, GgmlType, ggmlTypeInfo, ggmlTypeName, isSupportedType } from '../../src/quant/formats.ts';
import { isVqGgmlType, vqCodec } from '../../src/quant/vq/codecs.ts';

const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);
import { fixture } from '../helpers/fixtures.ts';
import { rng as prng } from '../../src/gpu/random.ts';

const N_INPUTS = 40_000;

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <V>(r: Rand, xs: readonly V[]): V => xs[int(r, xs.length)];

interface Seed {
  name: string;
  bytes: Uint8Array;
  /** Mutations land here 90% of the time: where the parser works. */
  headerEnd: number;
}

const KVS: Array<[string, GgufKv]> = [
  ['general.architecture', { type: T.STRING, value: 'llama' }],
  ['u8', { type: T.UINT8, value: 7 }],
  ['i16', { type: T.INT16, value: -5 }],
  ['u32', { type: T.UINT32, value: 64 }],
  ['f32', { type: T.FLOAT32, value: 0.5 }],
  ['bool', { type: T.BOOL, value: true }],
  ['u64', { type: T.UINT64, value: 12345 }],
  ['i64', { type: T.INT64, value: -1 }],
  ['f64', { type: T.FLOAT64, value: 2.5 }],
  ['tokens', { type: T.ARRAY, arrayType: T.STRING, value: ['<unk>', '<s>', 'a', 'bc'] }],
  ['scores', { type: T.ARRAY, arrayType: T.FLOAT32, value: new Float32Array([0, -1, -2]) }],
  ['types', { type: T.ARRAY, arrayType: T.INT32, value: new Int32Array([2, 3, 1]) }],
  ['flags', { type: T.ARRAY, arrayType: T.BOOL, value: [true, false] }],
  ['ids', { type: T.ARRAY, arrayType: T.UINT64, value: new BigUint64Array([1n, 2n ** 63n]) }],
];
const TENSOR_TYPES = [...Object.values(BLOCK_FORMATS).map((f) => f.type), GgmlType.Q8_K, GgmlType.Q1_0];

function randomTensors(r: Rand, n: number): GgufTensorSpec[] {
  return Array.from({ length: n }, (_, i) => {
    const type = pick(r, TENSOR_TYPES);
    const bs = ggmlTypeInfo(type)!.blockSize;
    const ne = [bs * (1 + int(r, 2)), ...(r() < 0.5 ? [1 + int(r, 3)] : [])];
    return { name: `blk.${i}.w`, ne, type };
  });
}

async function writeSeed(kv: Iterable<[string, GgufKv]>, tensors: GgufTensorSpec[], data: (t: GgufTensorSpec) => Uint8Array | Promise<Uint8Array>): Promise<Uint8Array> {
  const sink = new MemorySink();
  await writeGguf(sink, kv, tensors, data);
  return sink.bytes();
}

function randomBytes(r: Rand, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => int(r, 256));
}

function tensorBytes(t: GgufTensorSpec): number {
  const info = ggmlTypeInfo(t.type)!;
  return (t.ne.reduce((a, b) => a * b, 1) / info.blockSize) * info.bytesPerBlock;
}

/** A synthetic file assembled without the writer, with one key or tensor name repeated. */
function duplicated(r: Rand, what: 'key' | 'tensor'): Uint8Array {
  const kv = KVS.slice(0, 3 + int(r, KVS.length - 3));
  if (what === 'key') kv.splice(int(r, kv.length), 0, pick(r, kv));
  const tensors = randomTensors(r, 2);
  if (what === 'tensor') tensors[1].name = tensors[0].name;
  const b = new ByteBuilder();
  encodeHeader(b, 3, tensors.length, kv.length);
  for (const [k, v] of kv) encodeKv(b, 'fuzz', k, v);
  let off = 0;
  for (const t of tensors) {
    encodeTensorInfo(b, t.name, t.ne, t.type, off);
    off += Math.ceil(tensorBytes(t) / 32) * 32;
  }
  b.zeros((32 - (b.length % 32)) % 32);
  return b.bytes(randomBytes(r, off)).finish();
}

async function seeds(): Promise<Seed[]> {
  const r = prng(1);
  const out: Seed[] = [];
  const headerEnd = async (bytes: Uint8Array) => (await readGguf(bytesSource(bytes))).dataOffset;
  // Real headers (tokenizer arrays included) with their smallest real tensors.
  for (const rel of ['models/stories260K.gguf', 'models/stories260K-quantized/stories260K-q4_0.gguf']) {
    const p = fixture(rel);
    if (!p) continue;
    const f = await readGguf(await fileSource(p));
    const small = f.tensors.filter((t) => t.nbytes <= 2048).slice(0, 4);
    const bytes = await writeSeed(f.kv, small, (t) => readTensorBytes(f, t as (typeof small)[number]));
    await f.source.close?.();
    out.push({ name: rel, bytes, headerEnd: await headerEnd(bytes) });
  }
  // Synthetic: every value type, every supported block type plus unsupported ones.
  for (let i = 0; i < 6; i++) {
    const kv = [...KVS.slice(0, 4 + int(r, KVS.length - 4))];
    if (i % 2) kv.push(['general.alignment', { type: T.UINT32, value: pick(r, [8, 16, 64]) }]);
    const bytes = await writeSeed(kv, randomTensors(r, 1 + int(r, 4)), (t) => randomBytes(r, tensorBytes(t)));
    out.push({ name: `synthetic-${i}`, bytes, headerEnd: await headerEnd(bytes) });
  }
  return out;
}

const U32_EDGES = [0, 1, 13, 0x7fffffff, 0x80000000, 0xffffffff];
const U64_EDGES = [0n, 1n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];

/** One mutated input; `kind` names the mutation for the tally. */
function mutate(r: Rand, s: Seed): { kind: string; bytes: Uint8Array } {
  const pos = (span = 1) => {
    const end = r() < 0.9 ? s.headerEnd : s.bytes.length;
    return int(r, Math.max(1, end - span));
  };
  const b = s.bytes.slice();
  const dv = new DataView(b.buffer);
  const k = int(r, 10);
  if (k < 3) {
    for (let i = 1 + int(r, 8); i > 0; i--) b[pos()] ^= 1 << int(r, 8);
    return { kind: 'bit flips', bytes: b };
  }
  if (k < 6) {
    // Header counts sit at 8 and 16; elsewhere a random spot that may be any length or type field.
    const at = r() < 0.15 ? pick(r, [4, 8, 16]) : pos(8);
    const w = int(r, 3);
    if (w === 0) b[at] = pick(r, [0, 0xff, 0x7f, 0x80]);
    else if (w === 1) dv.setUint32(at, pick(r, U32_EDGES), true);
    else dv.setBigUint64(at, pick(r, [...U64_EDGES, BigInt(b.length), BigInt(b.length + 1)]), true);
    return { kind: 'boundary values', bytes: b };
  }
  if (k < 8) return { kind: 'truncation', bytes: b.subarray(0, pos()) };
  if (k < 9) return { kind: pick(r, ['duplicate key', 'duplicate tensor'] as const), bytes: duplicated(r, r() < 0.5 ? 'key' : 'tensor') };
  b[pos()] ^= 1 << int(r, 8);
  return { kind: 'flip + truncation', bytes: b.subarray(0, int(r, b.length + 1)) };
}

/** A ByteSource that records the largest single read and the total requested. */
function recording(src: ByteSource): ByteSource & { maxRead: number; total: number } {
  const rec = {
    name: src.name,
    size: src.size,
    maxRead: 0,
    total: 0,
    read(o: number, n: number) {
      rec.maxRead = Math.max(rec.maxRead, n);
      rec.total += n;
      return src.read(o, n);
    },
  };
  return rec;
}

describe('GGUF reader under fuzzing', () => {
  it(`${N_INPUTS} mutated inputs end in success or a FormatError, fast, with bounded reads`, async () => {
    const base = await seeds();
    expect(base.length).toBeGreaterThanOrEqual(6);
    const tally = new Map<string, Map<string, number>>();
    let slowest = 0;
    const t0 = performance.now();
    for (let i = 0; i < N_INPUTS; i++) {
      const r = prng(1000 + i);
      const seed = base[i % base.length];
      const { kind, bytes } = mutate(r, seed);
      const src = recording(bytesSource(bytes, 'fuzz.gguf'));
      let outcome = 'ok';
      const start = performance.now();
      try {
        const f = await readGguf(src, { initialReadBytes: pick(r, [64, 4096, 1 << 20]) });
        for (const t of f.tensors) {
          if (isSupportedType(t.type)) {
            await readTensorF32(f, t);
            // Codebook types also decode into the engine's VqTensor (any bytes are valid blocks) and encode back byte
            // for byte. Not TQ1_0: its base-3 bytes map many to one onto 5 trits (a byte is ⌈243·v/256⌉-rounded), so
            // only the bytes llama.cpp's packer writes come back; the fixture round trip covers those.
            if (isVqGgmlType(t.type) && t.type !== GgmlType.TQ1_0) {
              const raw = await readTensorBytes(f, t);
              const rows = t.nelements / t.ne[0];
              const c = vqCodec(t.type);
              const { q, origin } = c.decode(raw, rows, t.ne[0]);
              if (!equalBytes(c.encode(q, origin), raw)) expect.fail(`input ${i}: ${t.name} (${ggmlTypeName(t.type)}) did not encode back to its bytes`);
            }
          } else {
            await readTensorBytes(f, t);
            const e = await readTensorF32(f, t).then(() => null, (err: unknown) => err);
            if (!(e instanceof UnsupportedError)) expect.fail(`input ${i}: ${t.name} of unsupported type decoded, or failed with ${String(e)}`);
          }
        }
      } catch (e) {
        if (!(e instanceof FormatError) || !e.message.startsWith('fuzz.gguf: '))
          throw new Error(`input ${i} (${kind} of ${seed.name}, ${bytes.length} B): ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
        outcome = e.name;
      }
      const dt = performance.now() - start;
      slowest = Math.max(slowest, dt);
      if (dt >= 1000) expect.fail(`input ${i} (${kind} of ${seed.name}) took ${dt.toFixed(0)} ms`);
      if (src.maxRead > bytes.length) expect.fail(`input ${i} (${kind}): a read of ${src.maxRead} B from a ${bytes.length} B input`);
      // Header slices re-read from the unfinished item and double, so the total stays a small multiple of the input.
      if (src.total > 8 * bytes.length + (1 << 20)) expect.fail(`input ${i} (${kind}): ${src.total} B read from a ${bytes.length} B input`);
      const byKind = tally.get(kind) ?? new Map<string, number>();
      byKind.set(outcome, (byKind.get(outcome) ?? 0) + 1);
      tally.set(kind, byKind);
    }
    const total = performance.now() - t0;
    const lines = [...tally].map(([kind, m]) => `  ${kind.padEnd(18)} ${[...m].map(([o, n]) => `${o} ${n}`).join(', ')}`);
    console.log(`${N_INPUTS} inputs from ${base.length} seeds in ${(total / 1000).toFixed(1)} s (slowest ${slowest.toFixed(1)} ms):\n${lines.join('\n')}`);
    const outcomes = new Set([...tally.values()].flatMap((m) => [...m.keys()]));
    expect(outcomes.has('ok')).toBe(true); // some mutations keep the file valid (e.g. data bytes)
    expect(outcomes.has('GgufError')).toBe(true);
  }, 120_000);
});
