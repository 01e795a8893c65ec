// GGUF export of the codebook-typed layers of a tuned GGUF base (i-quants,
// IQ4/FP4 tables, ternary): the same type, indices and signs untouched, only
// the stored scale fields rewritten.
// - Exact view ('gguf-superblock'): θ is each block's stored scale; it is
//   written back rounded as the field stores it (fp16 d; IQ1_M's nibbles).
// - Free views ('scale'; 'auto' on MXFP4/NVFP4): per-sub-block scales are
//   refitted into the block scale and the integer sub-scales (or the e8m0 /
//   ue4m3 bytes) by the type's codec, and the largest relative error is
//   reported. Offsets have no field in any codebook type: a 'scale+offset' tune
//   cannot be written, and the check says so before anything is written.
import { vqCodec } from '../quant/vq/codecs.ts';
import { ggmlTypeName } from '../quant/formats.ts';
import type { TunedModel, TunedVqLinear } from './tuned.ts';

/** Problems (cannot write) and notes (approximations) for the codebook layers of a tuned model. */
export function vqExportCheck(tm: Pick<TunedModel, 'vqLinears'>): { problems: string[]; notes: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  for (const l of tm.vqLinears.values()) {
    if (!l.trained || l.trained.kind === 'gguf-superblock') continue;
    const type = ggmlTypeName(l.origin.type);
    if (l.trained.kind === 'scale+offset' && l.q.offset.some((v) => v !== 0)) problems.push(`${l.name}: ${type} blocks have no offset field, but its offsets were trained ('scale+offset'); train 'auto' or 'scale'`);
    else notes.push(`${l.name}: ${type} scales were trained as free per-sub-block values; its stored block scales and sub-scales are refitted to them (the error is reported)`);
  }
  return { problems, notes };
}

/** The tuned layer's blocks in file row order (`rowOrder`: engine row r is file row rowOrder[r]), and a note when refitted. */
export function vqTunedBlocks(l: TunedVqLinear, rowOrder: Uint32Array | null): { bytes: Uint8Array; note: string | null } {
  const codec = vqCodec(l.origin.type);
  let origin = l.origin;
  let note: string | null = null;
  if (l.trained?.kind === 'gguf-superblock') origin = codec.withExactTheta(l.origin, l.trained.theta);
  else if (l.trained) {
    const r = codec.refit(l.origin, l.q.scale);
    origin = r.origin;
    note = `${l.name}: refitted ${ggmlTypeName(l.origin.type)} block scales, largest sub-block scale error ${(100 * r.maxRelErr).toFixed(3)} % of the trained value`;
  }
  const engine = codec.encode(l.q, origin);
  if (!rowOrder) return { bytes: engine, note };
  const rowBytes = engine.length / l.q.rows;
  const out = new Uint8Array(engine.length);
  for (let r = 0; r < rowOrder.length; r++) out.set(engine.subarray(r * rowBytes, (r + 1) * rowBytes), rowOrder[r] * rowBytes);
  return { bytes: out, note };
}
