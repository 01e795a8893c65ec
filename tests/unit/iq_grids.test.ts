// The i-quant grids transcribed from llama.cpp's ggml-common.h (src/quant/blocks/iq_grids.ts):
// entry counts and element value sets as formats-2.md §1.1 lists them, and an
// FNV-1a checksum of each table's bytes (element j of entry e at byte e·dim + j)
// computed from the header's literals when the table was transcribed.
import { describe, expect, it } from 'vitest';
import { iqGrid, iqGridDim, ksignsIq2xs, type IqGridName } from '../../src/quant/blocks/iq_grids.ts';

const TABLES: Record<IqGridName, { entries: number; values: number[]; fnv: number }> = {
  iq2xxs: { entries: 256, values: [8, 25, 43], fnv: 0x3db4a16e },
  iq2xs: { entries: 512, values: [8, 25, 43], fnv: 0xebeb17dd },
  iq2s: { entries: 1024, values: [8, 25, 43], fnv: 0x82981110 },
  iq3xxs: { entries: 256, values: [4, 12, 20, 28, 36, 44, 52, 62], fnv: 0x49a45035 },
  iq3s: { entries: 512, values: [1, 3, 5, 7, 9, 11, 13, 15], fnv: 0x71cc6c89 },
  iq1s: { entries: 2048, values: [-1, 0, 1], fnv: 0x2fe8cbce },
};

function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

describe('i-quant grids', () => {
  for (const [name, want] of Object.entries(TABLES) as [IqGridName, (typeof TABLES)[IqGridName]][])
    it(name, () => {
      const g = iqGrid(name);
      const dim = iqGridDim(name);
      expect(g.length / dim).toBe(want.entries);
      expect([...new Set(g)].sort((a, b) => a - b)).toEqual(want.values);
      expect(fnv1a(new Uint8Array(g.buffer, g.byteOffset, g.byteLength)).toString(16)).toBe(want.fnv.toString(16));
      // Entries are distinct vectors (a lattice codebook has no duplicates).
      const seen = new Set<string>();
      for (let e = 0; e < want.entries; e++) seen.add(Array.from(g.subarray(e * dim, (e + 1) * dim)).join(','));
      expect(seen.size).toBe(want.entries);
      expect(iqGrid(name)).toBe(g); // decoded once
    });

  it('first entries read as ggml does (element j = byte j of the little-endian entry)', () => {
    // iq2xxs_grid[0] = 0x0808080808080808, [1] = 0x080808080808082b; iq3xxs_grid[0] = 0x04040404; iq1s_grid[0] = 0xffffffffffffffff
    expect(Array.from(iqGrid('iq2xxs').subarray(8, 16))).toEqual([43, 8, 8, 8, 8, 8, 8, 8]);
    expect(Array.from(iqGrid('iq3xxs').subarray(0, 4))).toEqual([4, 4, 4, 4]);
    expect(Array.from(iqGrid('iq1s').subarray(0, 8))).toEqual([-1, -1, -1, -1, -1, -1, -1, -1]);
  });

  it('ksigns_iq2xs: 7 stored bits, the eighth makes the parity even', () => {
    const ks = ksignsIq2xs();
    expect(ks.length).toBe(128);
    for (let i = 0; i < 128; i++) {
      expect(ks[i] & 127).toBe(i);
      let p = 0;
      for (let b = ks[i]; b; b >>= 1) p ^= b & 1;
      expect(p).toBe(0);
    }
    expect([ks[0], ks[1], ks[3], ks[127]]).toEqual([0, 129, 3, 255]);
  });
});
