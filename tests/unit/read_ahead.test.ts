// The load's read-ahead (src/model/read_ahead.ts): each tensor's bytes are its
// own whatever order the load asks in, the next tensor's read starts before it
// is asked for, buffers are reused (at most three for a load that goes out of
// order), and a failed read rejects when (and only when) its tensor is asked for.
import { describe, expect, it } from 'vitest';
import { ReadAhead } from '../../src/model/read_ahead.ts';
import type { ModelTensor } from '../../src/io/loaded_model.ts';

function fakeTensor(name: string, n: number, log: string[], fail = false): ModelTensor {
  return {
    name, ggufName: name, shape: [n], type: 'Q4_0', ggmlType: null, bytes: n, rowOrder: null,
    readF32: () => Promise.reject(new Error('unused')),
    async readRaw(into?: Uint8Array) {
      log.push(name);
      if (fail) throw new Error(`${name}: disk error`);
      const out = into && into.length >= n ? into.subarray(0, n) : new Uint8Array(n);
      out.fill(name.charCodeAt(0));
      return out;
    },
  };
}

describe('read-ahead of a load', () => {
  it('reads one ahead, reuses its buffers, and gives each tensor its own bytes in any order', async () => {
    const log: string[] = [];
    const ts = ['a', 'b', 'c', 'd', 'e'].map((s, i) => fakeTensor(s, [14, 10, 12, 11, 13][i], log));
    const ra = new ReadAhead(ts);
    const seen = new Set<ArrayBuffer>();
    for (const i of [0, 1, 3, 2, 4]) {
      const bytes = await ra.wrap(ts[i]).readRaw();
      expect(bytes.length).toBe(ts[i].bytes);
      expect(bytes.every((x) => x === ts[i].name.charCodeAt(0))).toBe(true);
      seen.add(bytes.buffer as ArrayBuffer);
    }
    // a's read started b's; b's started c's, which d's out-of-order request left pending until asked for; nothing is read twice.
    expect(log.slice(0, 2)).toEqual(['a', 'b']);
    expect([...log].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(seen.size).toBeLessThanOrEqual(3);
  });

  it('rejects with the read error only when the failed tensor is asked for', async () => {
    const log: string[] = [];
    const ts = [fakeTensor('a', 4, log), fakeTensor('b', 4, log, true)];
    const ra = new ReadAhead(ts);
    await expect(ra.raw(ts[0])).resolves.toHaveLength(4); // b's prefetch fails in the background
    await expect(ra.raw(ts[1])).rejects.toThrow('b: disk error');
  });
});
