// imatrix files (src/io/imatrix): the two llama.cpp-written fixtures read with
// the layout llama.cpp writes (keys, sorted names, [n_cols, n_mat] / [1, n_mat]);
// sub4's GGUF writer reproduces a fixture byte for byte from what was read, and a
// write → read round trip is exact; the legacy .dat layout reads back to the
// weights llama-quantize derives (mean of x²); importanceWeights follows
// quantize.cpp (count-0 experts weigh 1); typed errors for the hostile cases.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/base/errors.ts';
import { bytesSource } from '../../src/io/source.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { MemorySink, writeGguf } from '../../src/io/gguf/writer.ts';
import { GgufValueType as T, type GgufKv } from '../../src/io/gguf/types.ts';
import { GgmlType } from '../../src/quant/formats.ts';
import { readGguf, readTensorBytes } from '../../src/io/gguf/reader.ts';
import { encodeImatrixDat, importanceWeights, ImatrixError, readImatrix, writeImatrixGguf, type Imatrix } from '../../src/io/imatrix/index.ts';
import { fixture } from '../helpers/fixtures.ts';

const FIXTURES = ['models/random-llama-256/random-llama-256.imatrix.gguf', 'models/stories260K-quantized/stories260K.imatrix.gguf'];

function synthetic(): Imatrix {
  const entries = new Map([
    ['blk.1.ffn_down.weight', { inSum2: Float32Array.from([1, 2, 3, 4, 5, 6]), counts: [12], nCols: 6 }],
    ['blk.0.attn_q.weight', { inSum2: Float32Array.from([0.5, 0.25, 8, 16]), counts: [2], nCols: 4 }],
    // MoE: three experts of 2 columns, one never routed.
    ['blk.0.ffn_up_exps.weight', { inSum2: Float32Array.from([4, 8, 0, 0, 9, 3]), counts: [4, 0, 3], nCols: 2 }],
  ]);
  return { entries, datasets: ['data/a.txt', 'b.txt'], chunkCount: 3, chunkSize: 4 };
}

async function gguf(im: Imatrix): Promise<Uint8Array> {
  const sink = new MemorySink();
  await writeImatrixGguf(sink, im);
  return sink.bytes();
}

describe('imatrix: llama.cpp fixtures', () => {
  for (const rel of FIXTURES)
    it(`${rel.split('/').at(-1)}: read, then rewritten byte for byte`, async () => {
      const path = fixture(rel);
      if (!path) return;
      const src = await fileSource(path);
      const im = await readImatrix(src);
      const raw = await readGguf(src);
      expect(im.format).toBe('gguf');
      expect(im.hasMetadata).toBe(true);
      expect(im.chunkSize).toBe(512);
      expect(im.chunkCount).toBe(1);
      expect(im.datasets).toHaveLength(1);
      expect(im.entries.size * 2).toBe(raw.tensors.length);
      for (const [name, e] of im.entries) {
        expect(name).toMatch(/^blk\.\d+\.(attn_(q|k|v|output)|ffn_(gate|up|down))\.weight$/);
        expect(e.counts).toEqual([512]);
        expect(e.inSum2.length).toBe(e.nCols);
        const t = raw.tensors.find((x) => x.name === `${name}.in_sum2`)!;
        expect(t.ne).toEqual([e.nCols, 1]);
        expect(new Uint8Array(e.inSum2.buffer)).toEqual(await readTensorBytes(raw, t));
        const w = importanceWeights(im, name)!;
        for (let i = 0; i < w.length; i++) expect(w[i]).toBe(Math.fround(e.inSum2[i] / 512));
      }
      // The writer given what was read reproduces llama.cpp's file exactly.
      expect(await gguf(im)).toEqual(new Uint8Array(readFileSync(path)));
      await src.close?.();
    });
});

describe('imatrix: GGUF write → read', () => {
  it('round trip is exact; layout as llama.cpp writes it', async () => {
    const im = synthetic();
    const bytes = await gguf(im);
    const back = await readImatrix(bytesSource(bytes, 'x.imatrix.gguf'));
    expect(back.format).toBe('gguf');
    expect(back.datasets).toEqual(im.datasets);
    expect([back.chunkCount, back.chunkSize]).toEqual([3, 4]);
    expect([...back.entries.keys()]).toEqual(['blk.0.attn_q.weight', 'blk.0.ffn_up_exps.weight', 'blk.1.ffn_down.weight']);
    for (const [name, e] of im.entries) {
      const b = back.entries.get(name)!;
      expect(b.inSum2).toEqual(e.inSum2);
      expect(b.counts).toEqual(e.counts);
      expect(b.nCols).toBe(e.nCols);
    }
    const raw = await readGguf(bytesSource(bytes));
    expect([...raw.kv.keys()]).toEqual(['general.type', 'imatrix.datasets', 'imatrix.chunk_count', 'imatrix.chunk_size']);
    expect(raw.tensors.map((t) => [t.name, t.ne])).toEqual([
      ['blk.0.attn_q.weight.in_sum2', [4, 1]],
      ['blk.0.attn_q.weight.counts', [1, 1]],
      ['blk.0.ffn_up_exps.weight.in_sum2', [2, 3]],
      ['blk.0.ffn_up_exps.weight.counts', [1, 3]],
      ['blk.1.ffn_down.weight.in_sum2', [6, 1]],
      ['blk.1.ffn_down.weight.counts', [1, 1]],
    ]);
    // Written again from what was read: the same bytes.
    expect(await gguf(back)).toEqual(bytes);
  });

  it('importanceWeights: Σx²/count per expert, 1 for an expert never hit', async () => {
    const back = await readImatrix(bytesSource(await gguf(synthetic())));
    expect([...importanceWeights(back, 'blk.0.ffn_up_exps.weight')!]).toEqual([1, 2, 1, 1, 3, 1]);
    expect([...importanceWeights(back, 'blk.0.attn_q.weight')!]).toEqual([0.25, 0.125, 4, 8]);
    expect(importanceWeights(back, 'blk.9.attn_q.weight')).toBeUndefined();
  });
});

describe('imatrix: legacy .dat', () => {
  it('reads what llama.cpp\'s legacy writer produces; weights equal the GGUF ones', async () => {
    const im = synthetic();
    const dat = encodeImatrixDat(im);
    const back = await readImatrix(bytesSource(dat, 'x.dat'));
    expect(back.format).toBe('dat');
    expect(back.chunkCount).toBe(3);
    expect(back.datasets).toEqual(['b.txt']);
    expect(back.entries.get('blk.1.ffn_down.weight')!.counts).toEqual([3]); // ⌈12 / 4⌉
    const fromGguf = await readImatrix(bytesSource(await gguf(im)));
    for (const name of ['blk.1.ffn_down.weight', 'blk.0.attn_q.weight', 'blk.0.ffn_up_exps.weight']) {
      const a = importanceWeights(back, name)!, b = importanceWeights(fromGguf, name)!;
      for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 6);
    }
  });

  it('the trailer is optional', async () => {
    const dat = encodeImatrixDat(synthetic());
    const n = new DataView(dat.buffer).getInt32(0, true);
    expect(n).toBe(3);
    const noTrailer = dat.subarray(0, dat.length - 4 - 4 - 'b.txt'.length);
    const back = await readImatrix(bytesSource(noTrailer, 'x.dat'));
    expect(back.entries.size).toBe(3);
    expect(back.chunkCount).toBe(0);
    expect(back.datasets).toEqual([]);
  });
});

describe('imatrix: typed errors name the file and the problem', () => {
  const le = (...v: number[]) => new Uint8Array(Int32Array.from(v).buffer);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['empty', new Uint8Array(0), /too short/],
    ['bad magic', new Uint8Array([0, 0, 0, 0, 1, 2, 3, 4]), /not an imatrix/],
    ['absurd entry count', le(1 << 30), /cannot fit/],
    ['negative name length', Uint8Array.from([...le(1, -5), ...new Uint8Array(20)]), /name length -5/],
    ['negative ncall', Uint8Array.from([...le(1, 1), 0x61, ...le(-2, 1), ...new Uint8Array(4)]), /ncall is -2; counts cannot be negative/],
    ['truncated values', Uint8Array.from([...le(1, 1), 0x61, ...le(1, 100), ...new Uint8Array(8)]), /truncated/],
  ];
  for (const [what, bytes, re] of cases)
    it(what, async () => {
      const err = await readImatrix(bytesSource(bytes, 'bad.imatrix')).catch((e) => e);
      expect(err).toBeInstanceOf(FormatError);
      expect(err.message).toMatch(/^bad\.imatrix: /);
      expect(err.message).toMatch(re);
    });

  it('GGUF: negative counts and sums, NaN, a missing half, not an imatrix, no data; the writer refuses a shape mismatch', async () => {
    const bad = async (mut: (im: Imatrix) => void, re: RegExp, patch?: (b: Uint8Array) => void) => {
      const im = synthetic();
      mut(im);
      const bytes = await gguf(im);
      patch?.(bytes);
      const err = await readImatrix(bytesSource(bytes, 'g.gguf')).catch((e) => e);
      expect(err, String(re)).toBeInstanceOf(ImatrixError);
      expect(err.message).toMatch(re);
    };
    // A count of −7: written as 7, then the f32 sign bit set in place.
    await bad((im) => (im.entries.get('blk.0.attn_q.weight')!.counts = [7]), /count 0 is -7; counts cannot be negative/, (b) => {
      const v = new DataView(b.buffer);
      for (let o = b.length - 4; o >= 0; o -= 4) if (v.getFloat32(o, true) === 7) return v.setFloat32(o, -7, true);
    });
    await bad((im) => (im.entries.get('blk.0.attn_q.weight')!.inSum2[1] = -1), /cannot be negative/);
    await bad((im) => (im.entries.get('blk.0.attn_q.weight')!.inSum2[1] = NaN), /non-finite/);
    // A GGUF model, or an entry with only one of its two tensors.
    const other = async (kv: Array<[string, GgufKv]>, names: string[], re: RegExp) => {
      const sink = new MemorySink();
      await writeGguf(sink, kv, names.map((name) => ({ name, ne: [4, 1], type: GgmlType.F32 })), () => new Uint8Array(16));
      const e = await readImatrix(bytesSource(sink.bytes(), 'g.gguf')).catch((x) => x);
      expect(e).toBeInstanceOf(ImatrixError);
      expect(e.message).toMatch(re);
    };
    await other([['general.type', { type: T.STRING, value: 'model' }]], ['token_embd.weight'], /not an imatrix/);
    await other([], ['blk.0.attn_q.weight.in_sum2'], /has in_sum2 but no counts/);
    await other([], ['token_embd.weight'], /no data/);
    const err = await writeImatrixGguf(new MemorySink(), { ...synthetic(), entries: new Map([['w', { inSum2: new Float32Array(5), counts: [1, 1], nCols: 2 }]]) }).catch((e) => e);
    expect(err.message).toMatch(/shape mismatch/);
  });
});
