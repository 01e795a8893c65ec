// imatrix reader fuzzing: 6,000 seeded mutations (bit flips, boundary-value
// overwrites of the int32 / u64 fields, truncations, both) of the two
// llama.cpp-written GGUF imatrix fixtures and of synthetic GGUF and legacy .dat
// files. Every input must end in success (then every entry's shapes agree and
// importanceWeights is finite) or a typed FormatError naming the file, within
// 1 s, and no read may ask for more bytes than the input holds.
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/base/errors.ts';
import { bytesSource, type ByteSource } from '../../src/io/source.ts';
import { MemorySink } from '../../src/io/gguf/writer.ts';
import { encodeImatrixDat, importanceWeights, readImatrix, writeImatrixGguf, type Imatrix } from '../../src/io/imatrix/index.ts';
import { fixture } from '../helpers/fixtures.ts';
import { rng as prng } from '../../src/gpu/random.ts';
import { readFileSync } from 'node:fs';

const N_INPUTS = 6_000;
type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <V>(r: Rand, xs: readonly V[]): V => xs[int(r, xs.length)];

function synthetic(r: Rand): Imatrix {
  const entries = new Map<string, { inSum2: Float32Array; counts: number[]; nCols: number }>();
  for (let i = 0; i < 1 + int(r, 4); i++) {
    const nCols = 1 + int(r, 9), nMat = r() < 0.3 ? 1 + int(r, 3) : 1;
    entries.set(`blk.${i}.${pick(r, ['attn_q', 'ffn_down', 'ffn_up_exps'])}.weight`, {
      inSum2: Float32Array.from({ length: nCols * nMat }, () => r() * 100),
      counts: Array.from({ length: nMat }, () => int(r, 600)),
      nCols,
    });
  }
  return { entries, datasets: r() < 0.5 ? ['d.txt'] : [], chunkCount: int(r, 5), chunkSize: 1 + int(r, 512) };
}

async function seeds(): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const rel of ['models/stories260K-quantized/stories260K.imatrix.gguf', 'models/random-llama-256/random-llama-256.imatrix.gguf']) {
    const p = fixture(rel);
    if (p) out.push(new Uint8Array(readFileSync(p)));
  }
  const r = prng(7);
  for (let i = 0; i < 4; i++) {
    const sink = new MemorySink();
    await writeImatrixGguf(sink, synthetic(r));
    out.push(sink.bytes());
    out.push(encodeImatrixDat(synthetic(r)));
  }
  return out;
}

function mutate(r: Rand, s: Uint8Array): { kind: string; bytes: Uint8Array } {
  const b = s.slice();
  const dv = new DataView(b.buffer);
  const k = int(r, 8);
  // Headers, names and counts sit early; most mutations land in the first half.
  const pos = (span = 1) => int(r, Math.max(1, (r() < 0.8 ? Math.min(b.length, 600) : b.length) - span));
  if (k < 3) {
    for (let i = 1 + int(r, 6); i > 0; i--) b[pos()] ^= 1 << int(r, 8);
    return { kind: 'bit flips', bytes: b };
  }
  if (k < 5) {
    const at = pos(8);
    if (r() < 0.6) dv.setInt32(at, pick(r, [0, 1, -1, -2, 7, 0x7fffffff, -0x80000000, b.length]), true);
    else dv.setFloat32(at, pick(r, [-1, -7, NaN, Infinity, 1e30, 0.5]), true);
    return { kind: 'boundary values', bytes: b };
  }
  if (k < 7) return { kind: 'truncation', bytes: b.subarray(0, int(r, b.length)) };
  b[pos()] ^= 1 << int(r, 8);
  return { kind: 'flip + truncation', bytes: b.subarray(0, int(r, b.length + 1)) };
}

function recording(src: ByteSource): ByteSource & { maxRead: number } {
  const rec = {
    name: src.name,
    size: src.size,
    maxRead: 0,
    read(o: number, n: number) {
      rec.maxRead = Math.max(rec.maxRead, n);
      return src.read(o, n);
    },
  };
  return rec;
}

describe('imatrix reader under fuzzing', () => {
  it(`${N_INPUTS} mutated inputs end in success or a FormatError, fast, with bounded reads`, async () => {
    const base = await seeds();
    expect(base.length).toBeGreaterThanOrEqual(8);
    const tally = new Map<string, number>();
    for (let i = 0; i < N_INPUTS; i++) {
      const r = prng(5000 + i);
      const { kind, bytes } = mutate(r, base[i % base.length]);
      const src = recording(bytesSource(bytes, 'fuzz.imatrix'));
      let outcome = 'ok';
      const t0 = performance.now();
      try {
        const im = await readImatrix(src);
        for (const [name, e] of im.entries) {
          expect(e.inSum2.length).toBe(e.nCols * (im.format === 'dat' ? 1 : e.counts.length));
          expect(e.counts.every((c) => Number.isInteger(c) && c >= 0)).toBe(true);
          expect(importanceWeights(im, name)!.every(Number.isFinite), name).toBe(true);
        }
      } catch (e) {
        if (!(e instanceof FormatError) || !e.message.startsWith('fuzz.imatrix: '))
          throw new Error(`input ${i} (${kind}, ${bytes.length} B): ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
        outcome = e.name;
      }
      const dt = performance.now() - t0;
      if (dt >= 1000) expect.fail(`input ${i} (${kind}) took ${dt.toFixed(0)} ms`);
      if (src.maxRead > bytes.length) expect.fail(`input ${i} (${kind}): a read of ${src.maxRead} B from a ${bytes.length} B input`);
      tally.set(`${kind} → ${outcome}`, (tally.get(`${kind} → ${outcome}`) ?? 0) + 1);
    }
    console.log([...tally].sort().map(([k, n]) => `${k}: ${n}`).join('\n'));
    expect([...tally.keys()].some((k) => k.endsWith('ImatrixError'))).toBe(true);
  });
});
