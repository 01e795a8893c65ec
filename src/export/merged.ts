// The tuned model as one plain float checkpoint (`--format merged`): a Hugging
// Face folder whose model.safetensors holds every tensor in F16, each linear
// layer being the weight the run computed with, the adapter merged in:
//   LoRA  W' = W + s·B·A
//   DoRA  W' = (m/n)[:, None] · (W + s·B·A),  n the row norms of W + s·B·A (PEFT's merge_safe)
// where W is the base as trained: a tuned grid dequantized, a codebook layer
// (GGUF i-quants, ReALLM's learned tables) dequantized, or the float weight.
// Any loader of float Llama checkpoints reads it (transformers, llama.cpp's
// convert_hf_to_gguf, sub4); the price is 16 bits per weight, and the only
// change from the run's own model is the F16 rounding. config.json is the
// base's without quantization_config, torch_dtype float16; written last, so a
// folder that failed midway does not look like a model.
import { paramSpec, type LinearRole } from '../arch/params.ts';
import { writeSafetensors } from '../io/safetensors/writer.ts';
import { factorRank, type LoraFactor } from '../io/lora/set.ts';
import { dequantizeQ } from '../quant/qtensor.ts';
import { dequantizeVq } from '../quant/vq/vqtensor.ts';
import { encodeF16, plainTensorEntries, type PlainTensor } from './plain_tensors.ts';
import { ExportError, writeExportFile, writeWholeFile, type ExportTarget } from './target.ts';
import type { TunedModel } from './tuned.ts';

const fail = (detail: string): never => {
  throw new ExportError('merged', detail);
};

/** w [O, I] ← w + s·B·A, then each row times m/n with DoRA; in place, sums in f64. */
export function mergeFactor(w: Float32Array, f: LoraFactor, scale: number): Float32Array {
  const { outFeatures: O, inFeatures: I } = f;
  const R = f.a.length / I;
  if (w.length !== O * I) fail(`layer ${f.layer} ${f.role}: the weight holds ${w.length} values, the adapter is [${O}, ${I}]`);
  const row = new Float64Array(I);
  for (let o = 0; o < O; o++) {
    let sq = 0;
    for (let i = 0; i < I; i++) {
      let d = 0;
      for (let k = 0; k < R; k++) d += f.b[o * R + k] * f.a[k * I + i];
      row[i] = w[o * I + i] + scale * d;
      sq += row[i] * row[i];
    }
    const c = f.magnitude ? f.magnitude[o] / Math.sqrt(sq) : 1;
    for (let i = 0; i < I; i++) w[o * I + i] = row[i] * c;
  }
  return w;
}

/** Every layer linear of the tuned model, read on demand as the merged f32 weight (engine = HF row order). */
export function mergedLinears(tm: TunedModel): PlainTensor[] {
  const factors = new Map((tm.lora?.factors ?? []).map((f) => [`${f.layer}.${f.role}`, f]));
  return paramSpec(tm.base.config)
    .filter((p) => p.kind === 'linear' && p.layer !== null)
    .map((p) => ({
      name: p.name,
      shape: p.shape,
      read: async () => {
        const t = tm.base.tensors.get(p.name)!;
        const q = tm.linears.get(p.name)?.q;
        const vq = tm.vqLinears.get(p.name)?.q ?? (t.readVq ? await t.readVq() : null);
        const w = q ? dequantizeQ(q) : vq ? dequantizeVq(vq) : await t.readF32();
        const f = factors.get(`${p.layer}.${p.role as LinearRole}`);
        return f ? mergeFactor(Float32Array.from(w), f, tm.lora!.alpha / factorRank(tm.lora!, f)) : w;
      },
    }));
}

export interface MergedExportInput {
  /** The base's config.json object (HF). */
  config: Record<string, unknown>;
  /** Every tensor of the model (merged linears included), written as F16. */
  tensors: readonly PlainTensor[];
  /** Tokenizer and generation files, copied as they are. */
  files: readonly { name: string; read(): Promise<Uint8Array> }[];
  readme: string;
}

/** Write model.safetensors, the extra files, README.md, then config.json. */
export async function writeMergedFolder(target: ExportTarget, input: MergedExportInput): Promise<{ files: string[]; bytes: number }> {
  const tensors = plainTensorEntries(input.tensors, new Map(), 'F16', (v, name) => encodeF16(v, name, fail), fail);
  if (new Set(tensors.map((t) => t.name)).size !== tensors.length) fail('two tensors would share a name in model.safetensors');
  tensors.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let bytes = 0;
  await writeExportFile(target, 'model.safetensors', async (sink) => {
    bytes = await writeSafetensors(sink, tensors, { metadata: { format: 'pt' }, file: 'model.safetensors' });
  });
  const written = ['model.safetensors'];
  for (const f of input.files) {
    await writeWholeFile(target, f.name, await f.read());
    written.push(f.name);
  }
  await writeWholeFile(target, 'README.md', input.readme);
  const { quantization_config: _, ...rest } = input.config;
  const config: Record<string, unknown> = { ...rest, torch_dtype: 'float16' };
  if ('dtype' in input.config) config.dtype = 'float16'; // transformers v5's name for torch_dtype
  await writeWholeFile(target, 'config.json', `${JSON.stringify(config, null, 2)}\n`);
  written.push('README.md', 'config.json');
  return { files: written, bytes };
}
