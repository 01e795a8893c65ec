// The lattice grids of llama.cpp's i-quants, as format data. Source:
// ggml/src/ggml-common.h (tables iq2xxs_grid, iq2xs_grid, iq2s_grid,
// iq3xxs_grid, iq3s_grid and the CPU iq1s_grid under GGML_COMMON_IMPL_C),
// transcribed by script, one entry after another as the C literal's hex digits
// (16 per uint64 entry, 8 per uint32 entry). Element j of an entry is its byte j
// (little-endian), see docs formats-2.md §1.1; iq1s_grid's bytes are int8
// (0xff = −1). The hex lives in iq_grids_iq2_iq3.ts and iq_grids_iq1.ts; it is
// decoded here, once, on first use. ksigns_iq2xs is not stored: it is
// i | (popcount(i) & 1) << 7 (even parity), computed below.

import { IQ1S_GRID_HEX } from './iq_grids_iq1.ts';
import { IQ2S_GRID_HEX, IQ2XS_GRID_HEX, IQ2XXS_GRID_HEX, IQ3S_GRID_HEX, IQ3XXS_GRID_HEX } from './iq_grids_iq2_iq3.ts';

export type IqGridName = 'iq2xxs' | 'iq2xs' | 'iq2s' | 'iq3xxs' | 'iq3s' | 'iq1s';

const SOURCES: Record<IqGridName, { hex: string; dim: 4 | 8; signedBytes: boolean }> = {
  iq2xxs: { hex: IQ2XXS_GRID_HEX, dim: 8, signedBytes: false },
  iq2xs: { hex: IQ2XS_GRID_HEX, dim: 8, signedBytes: false },
  iq2s: { hex: IQ2S_GRID_HEX, dim: 8, signedBytes: false },
  iq3xxs: { hex: IQ3XXS_GRID_HEX, dim: 4, signedBytes: false },
  iq3s: { hex: IQ3S_GRID_HEX, dim: 4, signedBytes: false },
  iq1s: { hex: IQ1S_GRID_HEX, dim: 8, signedBytes: true },
};

const cache = new Map<IqGridName, Int8Array | Uint8Array>();

/**
 * A grid as entries × dim element values (entry e, element j at e·dim + j):
 * Uint8Array magnitudes for the IQ2/IQ3 grids, Int8Array {−1, 0, 1} for iq1s.
 */
export function iqGrid(name: IqGridName): Uint8Array | Int8Array {
  let g = cache.get(name);
  if (g) return g;
  const { hex, dim, signedBytes } = SOURCES[name];
  const digits = dim * 2;
  const n = hex.length / digits;
  const bytes = new Uint8Array(n * dim);
  for (let e = 0; e < n; e++)
    for (let j = 0; j < dim; j++) {
      // byte j is the j-th least significant byte: digits counted from the right end of the entry
      const at = e * digits + digits - 2 * (j + 1);
      bytes[e * dim + j] = parseInt(hex.slice(at, at + 2), 16);
    }
  g = signedBytes ? new Int8Array(bytes.buffer) : bytes;
  cache.set(name, g);
  return g;
}

/** Vector length of a grid's entries. */
export function iqGridDim(name: IqGridName): 4 | 8 {
  return SOURCES[name].dim;
}

let ksigns: Uint8Array | null = null;

/** ksigns_iq2xs: the 7-bit sign index → the 8 sign bits with even parity. */
export function ksignsIq2xs(): Uint8Array {
  if (!ksigns) {
    ksigns = new Uint8Array(128);
    for (let i = 0; i < 128; i++) {
      let p = 0;
      for (let b = i; b; b >>= 1) p ^= b & 1;
      ksigns[i] = i | (p << 7);
    }
  }
  return ksigns;
}

/** IQ1S_DELTA = IQ1M_DELTA (ggml-common.h). */
export const IQ1_DELTA = 0.125;
