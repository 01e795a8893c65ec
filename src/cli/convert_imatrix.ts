// `sub4 convert --imatrix F`: per-column importance weights from llama.cpp's GGUF
// imatrix file, as llama-quantize computes them (tools/quantize load_imatrix;
// docs formats-2 §2.4): for each `<name>.in_sum2` [ne0 × n_expert] and
// `<name>.counts` [n_expert], w[j*ne0 + i] = in_sum2[j*ne0 + i] / counts[j], or 1
// where counts[j] is 0. Non-finite values are refused (llama-quantize aborts too).
//
// TODO: to be replaced by src/io/imatrix (readImatrix) when it lands; this small
// reader only knows the GGUF imatrix format, through the GGUF reader.
import { FormatError } from '../base/errors.ts';
import { readGguf, readTensorF32 } from '../io/gguf/reader.ts';
import { fileSource } from '../io/source.node.ts';

export type Importance = (ggufName: string, cols: number) => Float32Array | null;

export async function loadImportance(path: string): Promise<Importance> {
  const src = await fileSource(path);
  try {
    const f = await readGguf(src);
    const byName = new Map(f.tensors.map((t) => [t.name, t]));
    const weights = new Map<string, Float32Array>();
    for (const t of f.tensors) {
      if (!t.name.endsWith('.in_sum2')) continue;
      const name = t.name.slice(0, -'.in_sum2'.length);
      const ct = byName.get(`${name}.counts`);
      if (!ct) throw new FormatError(f.name, `imatrix entry ${name} has in_sum2 but no counts`);
      const sums = await readTensorF32(f, t);
      const counts = await readTensorF32(f, ct);
      const ne0 = t.ne[0];
      if (counts.length * ne0 !== sums.length) throw new FormatError(f.name, `imatrix entry ${name}: ${sums.length} sums for ${counts.length} counts of ${ne0} columns`);
      const w = new Float32Array(sums.length);
      for (let j = 0; j < counts.length; j++)
        for (let i = 0; i < ne0; i++) {
          const v = counts[j] === 0 ? 1 : sums[j * ne0 + i] / counts[j];
          if (!Number.isFinite(v)) throw new FormatError(f.name, `imatrix entry ${name} holds a non-finite value`);
          w[j * ne0 + i] = v;
        }
      weights.set(name, w);
    }
    if (weights.size === 0) throw new FormatError(f.name, 'no importance matrix entries (<name>.in_sum2 / <name>.counts) in this file');
    return (name) => weights.get(name) ?? null;
  } finally {
    await src.close?.();
  }
}
