// LlamaConfig → the GGUF hyper-parameter keys llama.cpp reads (docs/formats.md §1.3).
import type { LlamaConfig } from '../../arch/config.ts';
import { FAMILIES, noRopeLayersEvery } from '../../arch/families.ts';
import { UnsupportedError } from '../../base/errors.ts';
import { GgufValueType as T, type GgufKv } from '../../io/gguf/types.ts';

const u32 = (v: number): GgufKv => ({ type: T.UINT32, value: v });
const f32 = (v: number): GgufKv => ({ type: T.FLOAT32, value: v });

export function configKv(c: LlamaConfig, name: string, file: string): [string, GgufKv][] {
  const fam = FAMILIES[c.architecture];
  const a = fam.ggufArch; // llama.cpp runs Mistral as llama
  // GGUF has no key for NoPE layers: llama.cpp derives them from the architecture, so other layouts cannot be written.
  const nope = (c.noRopeLayers ?? []).join(', ');
  const implied = fam.noRopeInterval ? noRopeLayersEvery(fam.noRopeInterval, c.numLayers).join(', ') : '';
  if (nope !== implied) throw new UnsupportedError(file, `NoPE layers [${nope}] differ from the [${implied}] that llama.cpp's "${a}" assumes; GGUF cannot record them`);
  const kv: [string, GgufKv][] = [
    ['general.architecture', { type: T.STRING, value: a }],
    ['general.name', { type: T.STRING, value: name }],
    [`${a}.context_length`, u32(c.maxPositions)],
    [`${a}.embedding_length`, u32(c.hiddenSize)],
    [`${a}.block_count`, u32(c.numLayers)],
    [`${a}.feed_forward_length`, u32(c.intermediateSize)],
    [`${a}.rope.dimension_count`, u32(c.headDim)],
    [`${a}.attention.head_count`, u32(c.numHeads)],
    [`${a}.attention.head_count_kv`, u32(c.numKvHeads)],
    [`${a}.attention.layer_norm_rms_epsilon`, f32(c.rmsNormEps)],
    [`${a}.rope.freq_base`, f32(c.ropeTheta)],
    [`${a}.vocab_size`, u32(c.vocabSize)],
  ];
  // Interleaved sliding/global layers: llama.cpp reads the span and hard-codes the pattern and local base (Gemma 3).
  const swa = fam.ggufSwa;
  const interleaved = c.slidingPattern !== undefined || c.ropeThetaLocal !== undefined;
  if (swa && c.slidingWindow !== null) {
    if (c.slidingPattern !== swa.pattern || (c.ropeThetaLocal ?? c.ropeTheta) !== swa.localTheta)
      throw new UnsupportedError(file, `sliding pattern ${c.slidingPattern} with local RoPE base ${c.ropeThetaLocal}: llama.cpp's "${a}" assumes ${swa.pattern} and ${swa.localTheta}`);
    kv.push([`${a}.attention.sliding_window`, u32(c.slidingWindow)]);
  } else if (!swa && interleaved) throw new UnsupportedError(file, `llama.cpp's "${a}" has no interleaved sliding layers`);
  if (c.headDim * c.numHeads !== c.hiddenSize) kv.push([`${a}.attention.key_length`, u32(c.headDim)], [`${a}.attention.value_length`, u32(c.headDim)]);
  const rs = c.ropeScaling;
  if (rs.type === 'linear') kv.push([`${a}.rope.scaling.type`, { type: T.STRING, value: 'linear' }], [`${a}.rope.scaling.factor`, f32(rs.factor)]);
  else if (rs.type !== 'none' && rs.type !== 'llama3')
    throw new UnsupportedError(file, `rope scaling "${rs.type}" cannot be written to GGUF by sub4 yet`);
  // Llama 3 rope scaling is carried by a rope_freqs.weight tensor in llama.cpp; the converter adds it (convert.ts).
  return kv;
}
