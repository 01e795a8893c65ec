// The lattice tables llama.cpp's grid i-quant quantizers search, rebuilt as
// ggml-quants.c iq2xs_init_impl / iq3xs_init_impl build them:
//   grid:  entry j's coordinates 2l+1 (l = the entry's level per element);
//   map:   key (l packed 2 bits per element for the 8-element grids, 3 bits for
//          the 4-element ones) → grid index, or −1 off the grid;
//   neighbours of an off-grid key: the grid entries in its `nwant` nearest
//          squared-distance shells, ordered by (d2, index) as C's qsort with
//          iq2_compare_func / iq3_compare_func leaves them (that comparator is a
//          total order on distinct indices, so no tie is left to the sort).
// The compact kgrid_* tables are not copied: each grid's levels are the ranks
// of its distinct byte values in the decode grids of iq_grids.ts (same entry
// order as kgrid_2bit_256/512/1024, kgrid_1bit_2048, kgrid_256/512; checked once
// against the C literals). Tables are built on first use per type and cached;
// neighbour lists are computed per key on first lookup (C computes all 43692 or
// 4096 up front; the lists are the same).
import { iqGrid, type IqGridName } from '../blocks/iq_grids.ts';

export interface LatticeTables {
  /** Elements per grid entry (8 for the IQ2 and IQ1 types, 4 for IQ3). */
  readonly dim: 4 | 8;
  /** Bits per element in a key (2 or 3). */
  readonly bits: 2 | 3;
  readonly size: number;
  /** grid[j·dim + i] = 2·l + 1. */
  readonly grid: Int8Array;
  /** key → grid index, −1 off the grid. */
  readonly map: Int32Array;
  readonly nwant: number;
  /** Lazily filled neighbour lists, by key. */
  readonly neighbours: (Uint16Array | undefined)[];
  /** Scratch: squared distances to every grid entry. */
  readonly dist: Int32Array;
}

const cache = new Map<string, LatticeTables>();

/**
 * The tables for one lattice: 'iq2xxs' (256, nwant 2), 'iq2xs' (512, 2),
 * 'iq2s' (1024, 1), 'iq1s' (2048, 3), 'iq3xxs' (256, 2), 'iq3s' (512, 3).
 */
export function latticeTables(name: IqGridName): LatticeTables {
  let t = cache.get(name);
  if (t) return t;
  const src = iqGrid(name);
  const dim: 4 | 8 = name === 'iq3xxs' || name === 'iq3s' ? 4 : 8;
  const bits: 2 | 3 = dim === 4 ? 3 : 2;
  const size = src.length / dim;
  const nwant = name === 'iq1s' || name === 'iq3s' ? 3 : name === 'iq2s' ? 1 : 2;
  const levels = [...new Set(Array.from(src))].sort((a, b) => a - b);
  const grid = new Int8Array(size * dim);
  const mapSize = dim === 8 ? 43692 : 4096;
  const map = new Int32Array(mapSize).fill(-1);
  for (let j = 0; j < size; j++) {
    let key = 0;
    for (let i = 0; i < dim; i++) {
      const l = levels.indexOf(src[j * dim + i]);
      grid[j * dim + i] = 2 * l + 1;
      key |= l << (bits * i);
    }
    map[key] = j;
  }
  t = { dim, bits, size, grid, map, nwant, neighbours: new Array(mapSize), dist: new Int32Array(size) };
  cache.set(name, t);
  return t;
}

/** The neighbour list (grid indices, nearest shells first, index order within a shell) of an off-grid key. */
export function neighboursOf(t: LatticeTables, key: number): Uint16Array {
  let nb = t.neighbours[key];
  if (nb) return nb;
  const { dim, bits, size, grid, dist } = t;
  const mask = (1 << bits) - 1;
  let best = 0x7fffffff;
  for (let j = 0; j < size; j++) {
    let d2 = 0;
    for (let i = 0; i < dim; i++) {
      const d = grid[j * dim + i] - (2 * ((key >> (bits * i)) & mask) + 1);
      d2 += d * d;
    }
    dist[j] = d2;
    if (d2 < best) best = d2;
  }
  const shells = [best];
  while (shells.length < t.nwant) {
    const prev = shells[shells.length - 1];
    let next = 0x7fffffff;
    for (let j = 0; j < size; j++) if (dist[j] > prev && dist[j] < next) next = dist[j];
    if (next === 0x7fffffff) break;
    shells.push(next);
  }
  const out: number[] = [];
  for (const s of shells) for (let j = 0; j < size; j++) if (dist[j] === s) out.push(j);
  nb = Uint16Array.from(out);
  t.neighbours[key] = nb;
  return nb;
}

/** Packs the levels l[lo..lo+dim) into a map key. */
export function latticeKey(t: LatticeTables, l: Int8Array | Uint8Array, lo: number): number {
  let key = 0;
  for (let i = 0; i < t.dim; i++) key |= l[lo + i] << (t.bits * i);
  return key;
}
