// Codecs of the lattice-grid i-quants (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S). Filled in by the codebook work.
import type { VqCodec } from './codec.ts';

export const GRID_CODECS: readonly VqCodec[] = [];
