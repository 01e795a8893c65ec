// `sub4 convert --imatrix F`: per-column importance weights from llama.cpp's
// imatrix file (GGUF or legacy .dat, src/io/imatrix), as llama-quantize
// computes them (importanceWeights: in_sum2 / counts). Non-finite weights are
// refused here, naming the tensor, as llama-quantize aborts on them.
import { FormatError } from '../base/errors.ts';
import { importanceWeights, readImatrix, type Imatrix } from '../io/imatrix/index.ts';
import { fileSource } from '../io/source.node.ts';

export type Importance = (ggufName: string, cols: number) => Float32Array | null;

/** The weights of every entry of a read imatrix (`file` names it in errors). */
export function importanceOf(im: Imatrix, file: string): Importance {
  const weights = new Map<string, Float32Array>();
  for (const name of im.entries.keys()) {
    const w = importanceWeights(im, name)!;
    if (!w.every(Number.isFinite)) throw new FormatError(file, `imatrix entry ${name} holds a non-finite value`);
    weights.set(name, w);
  }
  return (name) => weights.get(name) ?? null;
}

export async function loadImportance(path: string): Promise<Importance> {
  const src = await fileSource(path);
  try {
    return importanceOf(await readImatrix(src), src.name);
  } finally {
    await src.close?.();
  }
}
