// Codecs of the 16-value-table and ternary types (IQ4_NL, IQ4_XS, MXFP4, NVFP4, TQ1_0, TQ2_0). Filled in by the codebook work.
import type { VqCodec } from './codec.ts';

export const TABLE_CODECS: readonly VqCodec[] = [];
