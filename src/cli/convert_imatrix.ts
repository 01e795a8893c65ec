// `sub4 convert --imatrix F`: per-column importance weights from llama.cpp's
// imatrix file (GGUF or legacy .dat, src/io/imatrix), as llama-quantize
// computes them (importanceWeights: in_sum2 / counts). Non-finite weights are
// refused here, naming the tensor, as llama-quantize aborts on them.
import { FormatError } from '../base/errors.ts';
import { importanceWeights, readImatrix } from '../io/imatrix/index.ts';
import { fileSource } from '../io/source.node.ts';

export type Importance = (ggufName: string, cols: number) => Float32Array | null;

export async function loadImportance(path: string): Promise<Importance> {
  const src = await fileSource(path);
  try {
    const im = await readImatrix(src);
    const weights = new Map<string, Float32Array>();
    for (const name of im.entries.keys()) {
      const w = importanceWeights(im, name)!;
      if (!w.every(Number.isFinite)) throw new FormatError(src.name, `imatrix entry ${name} holds a non-finite value`);
      weights.set(name, w);
    }
    return (name) => weights.get(name) ?? null;
  } finally {
    await src.close?.();
  }
}
