// Seeded random-weight GGUFs of any family, written by sub4's own GGUF writer
// (src/export/convert: the same tensor naming, q/k permutation and type rules
// as `sub4 convert`), with stories260K's vocabulary as the tokenizer: the
// families' own tokenizers are not at hand here (Qwen3's would be the Qwen2.5
// one, which needs a 151,936-row embedding), and llama.cpp accepts this one for
// any architecture. The hyper-parameter keys come from configKv, the tokenizer
// keys verbatim from stories260K.gguf.
import { readGguf } from '../../src/io/gguf/reader.ts';
import type { GgufFile } from '../../src/io/gguf/types.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { fileSink } from '../../src/io/sink.node.ts';
import type { LlamaConfig } from '../../src/arch/config.ts';
import { hfToGguf } from '../../src/arch/names.ts';
import { configKv } from '../../src/export/convert/config_kv.ts';
import { convertToGguf } from '../../src/export/convert/convert.ts';
import type { ConvertType } from '../../src/export/convert/type_policy.ts';
import { synthetic } from '../gpu/model_synthetic.ts';

/** The vocabulary size every synthetic GGUF must have (stories260K's). */
export const STORIES_VOCAB = 512;

/** Write `c` with seeded random weights to `path` as a GGUF of `type`; returns the tensor types written. */
export async function writeSyntheticGguf(c: LlamaConfig, seed: number, path: string, type: ConvertType, storiesGguf: string): Promise<{ name: string; type: string }[]> {
  if (c.vocabSize !== STORIES_VOCAB) throw new Error(`synthetic GGUF: vocabSize ${c.vocabSize}, but the stories260K tokenizer has ${STORIES_VOCAB} tokens`);
  const src = await fileSource(storiesGguf);
  const stories = await readGguf(src);
  const tokenizer = [...stories.kv].filter(([k]) => k.startsWith('tokenizer.'));
  await src.close?.();
  const model = synthetic(c, seed);
  for (const t of model.tensors.values()) t.ggufName = hfToGguf(t.name, c.architecture);
  // synthetic() draws embeddings in ±1: through a tied head that gives logits so spread that perplexities run into
  // the millions. A quarter of that keeps them near the vocabulary size, like an untrained model, so a tune shows.
  const embed = model.tensors.get('model.embed_tokens.weight')!;
  const read = embed.readF32;
  embed.readF32 = async () => (await read()).map((v) => v * 0.25);
  // convertToGguf carries a GGUF input's metadata over: hand it the keys a converter would write.
  model.gguf = { kv: new Map([...configKv(c, `synthetic-${c.architecture}`, path), ...tokenizer]) } as unknown as GgufFile;
  const sink = await fileSink(path);
  try {
    const r = await convertToGguf(model, sink, { type, name: `synthetic-${c.architecture}` });
    await sink.commit();
    return r.tensors;
  } catch (e) {
    await sink.abort();
    throw e;
  }
}
