// Fuzzing the safetensors reader: 10,000+ seeded mutations of a small generated
// file and of the real stories260K header (bit flips, length prefixes, JSON
// edits, truncation, byte insertions). Every case must end in success or a
// FormatError subclass naming the file, within 1 s, and the reader must never
// ask its source for more bytes than the source holds.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FormatError, UnsupportedError } from '../../src/base/errors.ts';
import { openSafetensors } from '../../src/io/safetensors/reader.ts';
import { encodeSafetensors } from '../../src/io/safetensors/writer.ts';
import { checkRange, type ByteSource } from '../../src/io/source.ts';
import { fixture } from '../helpers/fixtures.ts';
import { rng as seededRng } from '../../src/gpu/random.ts';

const SEED = 0x5afe7e45;
const CASES_SMALL = 12000;
const CASES_STORIES = 8000;

/** The project's seeded PRNG, with the two helpers mutations need. */
function rng(seed: number) {
  const next = seededRng(seed);
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)] };
}
type Rng = ReturnType<typeof rng>;

/** Mutated header bytes in front of the untouched data section, without copying the data per case. */
interface Input {
  head: Uint8Array;
  data: Uint8Array;
  /** Total size after truncation. */
  size: number;
  what: string;
}

/** A source over head+data that records any read longer than the source itself. */
function guardedSource(inp: Input, violations: string[]): ByteSource {
  return {
    name: 'fuzz.safetensors',
    size: inp.size,
    async read(offset, length) {
      if (length > inp.size) violations.push(`${inp.what}: read of ${length} bytes from a ${inp.size}-byte source`);
      checkRange(this, offset, length);
      const out = new Uint8Array(length);
      const h = inp.head.length;
      if (offset < h) out.set(inp.head.subarray(offset, Math.min(h, offset + length)));
      if (offset + length > h) {
        const from = Math.max(offset, h);
        out.set(inp.data.subarray(from - h, offset + length - h), from - offset);
      }
      return out;
    },
  };
}

const enc = new TextEncoder();
function withHeader(json: string, pad: number): Uint8Array {
  const body = enc.encode(json + ' '.repeat(pad));
  const head = new Uint8Array(8 + body.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(body.length), true);
  head.set(body, 8);
  return head;
}
/** Sets an own property even for "__proto__" (plain assignment would change the prototype). */
const setOwn = (o: Record<string, unknown>, k: string, v: unknown) =>
  Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true, writable: true });

const WEIRD_NUMS = [-1, -(2 ** 31), 2 ** 32, 2 ** 53, 2 ** 64, 1e308, 1.5, 0, '3', null, true, [2], {}];
const WEIRD_DTYPES = ['F12', 'f32', '', 7, null, 'F4', 'F6_E2M3', 'F8_E4M3', 'C64', 'BOOL', 'I64', 'F16', 'U64', '__proto__', 'toString', 'constructor'];

/** One structural edit of the parsed header; returns a description. */
function jsonEdit(h: Record<string, unknown>, r: Rng): string {
  const names = Object.keys(h).filter((k) => k !== '__metadata__');
  const name = r.pick(names);
  const t = h[name] as Record<string, unknown>;
  const other = h[r.pick(names)] as Record<string, unknown>;
  const shape = Array.isArray(t.shape) ? (t.shape as unknown[]) : [];
  const offs = Array.isArray(t.data_offsets) ? (t.data_offsets as number[]) : [0, 0];
  switch (r.int(14)) {
    case 0: shape.length ? (shape[r.int(shape.length)] = r.pick(WEIRD_NUMS)) : shape.push(r.pick(WEIRD_NUMS)); return `${name}.shape entry`;
    case 1: t.shape = r.pick(['x', {}, null, [], [[2]], new Array(40).fill(2), [2 ** 26, 2 ** 26, 2 ** 26]]); return `${name}.shape`;
    case 2: shape.push(r.pick([1, 2, 0])); return `${name}.shape extra dim`;
    case 3: t.data_offsets = r.pick([[offs[1], offs[0]], [-1, offs[1]], [0, 2 ** 60], [offs[0], offs[1] + 1], [offs[0] + 1, offs[1] + 1], [offs[0], offs[1], 0], 'x', [1.5, 2], [offs[0]], [String(offs[0]), offs[1]]]); return `${name}.data_offsets`;
    case 4: t.data_offsets = other.data_offsets; return `${name} aliases another tensor's bytes`;
    case 5: [t.data_offsets, other.data_offsets] = [other.data_offsets, t.data_offsets]; return `swap offsets`;
    case 6: t.dtype = r.pick(WEIRD_DTYPES); return `${name}.dtype`;
    case 7: delete t[r.pick(['dtype', 'shape', 'data_offsets'])]; return `${name} key deleted`;
    case 8: setOwn(h, name, r.pick([null, 3, 'x', [], true])); return `${name} entry`;
    case 9: delete h[name]; setOwn(h, r.pick(['__proto__', '', 'constructor', name + 'x', '\u0000']), t); return `rename`;
    case 10: setOwn(h, '__metadata__', r.pick([{ a: 1 }, [], 'x', null, { a: { b: 'c' } }, { ['__proto__']: 'x' }, {}])); return `__metadata__`;
    case 11: t.shape = [...shape].reverse(); return `${name} shape reversed`;
    case 12: { const d = Number(r.pick([0, 1, 4, 8, 2 ** 20])); t.data_offsets = [offs[0] + d, offs[1] + d]; return `${name} offsets shifted by ${d}`; }
    default: { const e = Object.entries(h); e.sort(() => r.next() - 0.5); for (const k of Object.keys(h)) delete h[k]; for (const [k, v] of e) setOwn(h, k, v); return 'key order shuffled'; }
  }
}

function mutate(base: Input, r: Rng, headerEnd: number): Input {
  const head = base.head.slice();
  const kind = r.int(9);
  const whole = headerEnd;
  switch (kind) {
    case 0:
    case 1: {
      const n = 1 + r.int(8);
      for (let i = 0; i < n; i++) head[r.int(whole)] ^= 1 << r.int(8);
      return { ...base, head, what: `${n} bit flips` };
    }
    case 2: {
      const n = 1 + r.int(4);
      for (let i = 0; i < n; i++) head[8 + r.int(whole - 8)] = r.pick([0x00, 0xff, 0x7b, 0x7d, 0x22, 0x2c, 0x3a, 0x2d, 0x39, 0x5b, 0x5d, 0x5c, 0x80, 0xc3]);
      return { ...base, head, what: `${n} byte overwrites` };
    }
    case 3: {
      const n = whole - 8;
      const v = r.pick([0n, 1n, 7n, BigInt(n - 1), BigInt(n + 1), BigInt(base.size - 8), BigInt(base.size - 7), 2n ** 32n, 2n ** 53n, 2n ** 64n - 1n, 100_000_000n, 100_000_001n, BigInt(r.int(2 ** 32))]);
      new DataView(head.buffer).setBigUint64(0, v, true);
      return { ...base, head, what: `length prefix ${v}` };
    }
    case 4: {
      const size = r.int(base.size);
      return { ...base, size, what: `truncated to ${size}` };
    }
    case 5: {
      const at = 8 + r.int(whole - 8);
      const del = r.next() < 0.5;
      const n = 1 + r.int(16);
      const out = del ? new Uint8Array([...head.subarray(0, at), ...head.subarray(at + n)]) : new Uint8Array([...head.subarray(0, at), ...Array.from({ length: n }, () => r.int(256)), ...head.subarray(at)]);
      return { head: out, data: base.data, size: out.length + base.data.length, what: `${n} bytes ${del ? 'deleted' : 'inserted'} at ${at}` };
    }
    default: {
      const h = JSON.parse(new TextDecoder().decode(base.head.subarray(8))) as Record<string, unknown>;
      let what: string;
      let json: string;
      if (r.int(20) === 0) {
        json = JSON.stringify(r.pick([[], 'x', 1, null, {}]));
        what = 'header replaced';
      } else {
        what = jsonEdit(h, r);
        json = JSON.stringify(h);
      }
      if (r.int(10) === 0) {
        // A duplicate key: JSON.stringify cannot make one, so splice text.
        const [k, v] = Object.entries(h).find(([k2]) => k2 !== '__metadata__') ?? ['a', {}];
        json = json.replace(/}$/, `,${JSON.stringify(k)}:${JSON.stringify(v)}}`);
        what += ' + duplicate key';
      }
      const out = withHeader(json, r.int(12));
      const size = r.int(8) === 0 ? r.int(out.length + base.data.length) : out.length + base.data.length;
      return { head: out, data: base.data, size, what: `${what}${size < out.length + base.data.length ? ` + truncated to ${size}` : ''}` };
    }
  }
}

async function smallBase(): Promise<Input> {
  const bytes = await encodeSafetensors(
    [
      { name: 'w', dtype: 'F32', shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i - 5.5) },
      { name: 'h', dtype: 'F16', shape: [5], data: new Uint16Array([0x3c00, 0x7c00, 0x0001, 0xfbff, 0]) },
      { name: 'b', dtype: 'BF16', shape: [2, 2], data: new Uint16Array([0x3f80, 0x4049, 0xff80, 0x7fc0]) },
      { name: 'i', dtype: 'I64', shape: [2], data: new Uint8Array(new BigInt64Array([-1n, 1n << 60n]).buffer) },
      { name: 'u', dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
      { name: 's', dtype: 'F32', shape: [], data: new Float32Array([7]) },
      { name: 'e', dtype: 'F32', shape: [0, 9], data: new Uint8Array(0) },
      { name: 'p', dtype: 'F4', shape: [4], data: new Uint8Array([0x21, 0x43]) },
    ],
    { metadata: { format: 'pt', note: 'fuzz' } },
  );
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  return { head: bytes.slice(0, 8 + n), data: bytes.slice(8 + n), size: bytes.length, what: 'small' };
}

function storiesBase(): Input | null {
  const p = fixture('models/stories260K/model.safetensors');
  if (!p) return null;
  const bytes = new Uint8Array(readFileSync(p));
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { head: bytes.slice(0, 8 + n), data: bytes.subarray(8 + n), size: bytes.length, what: 'stories260K' };
}

interface Tally { ok: number; errors: Map<string, number>; maxMs: number; failures: string[]; violations: string[] }

async function runCase(inp: Input, r: Rng, t: Tally, maxTensorsRead: number): Promise<void> {
  const t0 = performance.now();
  const src = guardedSource(inp, t.violations);
  try {
    const st = await openSafetensors(src);
    let prevEnd = 0;
    for (const ti of st.tensors.values()) {
      if (ti.begin < prevEnd || st.dataStart + ti.end > inp.size) t.failures.push(`${inp.what}: accepted an out-of-range or overlapping tensor ${ti.name}`);
      prevEnd = ti.end;
    }
    const names = [...st.tensors.keys()];
    for (let k = 0; k < Math.min(maxTensorsRead, names.length); k++) {
      const name = maxTensorsRead >= names.length ? names[k] : r.pick(names);
      const bytes = await st.readTensorBytes(name);
      if (bytes.length !== st.tensors.get(name)!.end - st.tensors.get(name)!.begin) t.failures.push(`${inp.what}: ${name} read ${bytes.length} bytes`);
      await st.readTensorF32(name).catch((e: unknown) => {
        if (!(e instanceof UnsupportedError)) throw e;
      });
    }
    t.ok++;
  } catch (e) {
    if (!(e instanceof FormatError)) t.failures.push(`${inp.what}: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    else if (e.file !== 'fuzz.safetensors') t.failures.push(`${inp.what}: error names ${e.file}`);
    else t.errors.set(e.constructor.name, (t.errors.get(e.constructor.name) ?? 0) + 1);
  }
  const ms = performance.now() - t0;
  t.maxMs = Math.max(t.maxMs, ms);
  if (ms > 1000) t.failures.push(`${inp.what}: took ${ms.toFixed(0)} ms`);
}

describe('safetensors reader fuzz', () => {
  it(`survives ${CASES_SMALL + CASES_STORIES} mutated and truncated inputs`, async () => {
    const small = await smallBase();
    const stories = storiesBase();
    const r = rng(SEED);
    const t: Tally = { ok: 0, errors: new Map(), maxMs: 0, failures: [], violations: [] };
    const start = performance.now();
    const nSmall = stories ? CASES_SMALL : CASES_SMALL + CASES_STORIES;
    for (let i = 0; i < nSmall; i++) {
      const inp = mutate(small, r, small.head.length);
      await runCase({ ...inp, what: `small #${i} ${inp.what}` }, r, t, Infinity);
    }
    if (stories)
      for (let i = 0; i < CASES_STORIES; i++) {
        const inp = mutate(stories, r, stories.head.length);
        await runCase({ ...inp, what: `stories #${i} ${inp.what}` }, r, t, 3);
      }
    const secs = (performance.now() - start) / 1000;
    console.log(
      `safetensors fuzz: ${CASES_SMALL + CASES_STORIES} cases in ${secs.toFixed(1)} s, ${t.ok} accepted, ` +
        `errors ${JSON.stringify(Object.fromEntries(t.errors))}, slowest ${t.maxMs.toFixed(1)} ms`,
    );
    expect(t.failures.slice(0, 10)).toEqual([]);
    expect(t.violations.slice(0, 10)).toEqual([]);
    // Both outcomes must occur, or the mutations are not exercising the reader.
    expect(t.ok).toBeGreaterThan(1000);
    expect(t.errors.get('SafetensorsError') ?? 0).toBeGreaterThan(6000);
  });
});
