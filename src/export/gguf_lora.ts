// llama.cpp LoRA adapter GGUF (docs/formats.md §3), loadable with
// `llama-cli --lora FILE` or llama_adapter_lora_init on the base it was trained on.
// - Metadata: general.architecture = the base's GGUF architecture (Mistral runs
//   as "llama"), general.type = "adapter", adapter.type = "lora",
//   adapter.lora.alpha (f32); no hyper-parameters or tokenizer (llama.cpp takes
//   them from the base), plus general.name and the caller's provenance keys.
// - Tensors: blk.N.<gguf name>.weight.lora_a with ne [in, r] (the bytes of
//   A [r, in]) and .lora_b with ne [r, out] (the bytes of B [out, r]), F32.
//   llama.cpp scales by alpha / b.ne[0] = alpha / r, as sub4 does — per tensor, so
//   per-matrix ranks (a --budget plan's) need no more than each tensor's shape.
// - q/k: for architectures whose GGUF q/k rows are interleaved (Llama, Mistral),
//   B's rows are output features and move to GGUF order (§1.5; the base's
//   attn_q/attn_k were permuted the same way); A is untouched. Qwen2 stays as is.
// - alpha = 0 is refused: llama.cpp reads a zero alpha as "scale 1", so such a
//   file would apply the adapter that sub4 (scale 0) does not.
import { mergeKv } from './convert/convert.ts';
import { GgmlType, GgufValueType, type GgufKv } from '../io/gguf/types.ts';
import { writeGguf, type ByteSink, type GgufTensorSpec } from '../io/gguf/writer.ts';
import type { LlamaConfig } from '../arch/config.ts';
import { FAMILIES } from '../arch/families.ts';
import { applyRowOrder, ggufQkInterleaved, hfToGguf, qkRowOrder } from '../arch/names.ts';
import { paramSpec, type LinearRole } from '../arch/params.ts';
import { checkLoraSet } from './lora_check.ts';
import { factorRank, LORA_MODULES, sortedFactors, type LoraFactor, type LoraSet } from '../io/lora/set.ts';
import { ExportError, writeExportFile, type ExportTarget } from './target.ts';

const FORMAT = 'GGUF LoRA';
export const GGUF_LORA_FILE = 'adapter.gguf';

export interface GgufLoraOptions {
  /** File name when writing into an ExportTarget (default adapter.gguf); also names the file in errors. */
  fileName?: string;
  /** general.name. */
  name?: string;
  /** Extra metadata (provenance: general.source.url, general.quantized_by, …); replaces same-named keys. */
  kv?: readonly [string, GgufKv][];
}

/** GGUF base tensor name of a factor ('blk.3.attn_q.weight'). */
export function ggufLoraBase(layer: number, role: LinearRole): string {
  const g = hfToGguf(`model.layers.${layer}.${LORA_MODULES[role]}.weight`);
  if (!g) throw new ExportError(FORMAT, `no GGUF name for layer ${layer} ${role}`);
  return g;
}

/** B rows in the GGUF file's order (q/k of interleaved architectures), else B itself. */
export function ggufLoraB(f: LoraFactor, rank: number, config: LlamaConfig): Float32Array {
  if ((f.role !== 'q' && f.role !== 'k') || !ggufQkInterleaved(config.architecture)) return f.b;
  const heads = f.role === 'q' ? config.numHeads : config.numKvHeads;
  return applyRowOrder(f.b, rank, qkRowOrder(f.outFeatures, heads, 'hf_to_gguf'));
}

/** Every factor must sit on a layer and role of this model with the model's shapes. */
function checkAgainstModel(set: LoraSet, config: LlamaConfig): void {
  const shapes = new Map(paramSpec(config).filter((p) => p.kind === 'linear' && p.layer !== null).map((p) => [`${p.layer}.${p.role}`, p.shape]));
  for (const f of set.factors) {
    if (f.layer >= config.numLayers) throw new ExportError(FORMAT, `a factor is on layer ${f.layer}, the model has ${config.numLayers} layers`);
    const [out, inF] = shapes.get(`${f.layer}.${f.role}`)!;
    if (f.inFeatures !== inF || f.outFeatures !== out)
      throw new ExportError(FORMAT, `layer ${f.layer} ${f.role}: the factors map ${f.inFeatures} → ${f.outFeatures} features, the model's ${LORA_MODULES[f.role]} ${inF} → ${out}`);
  }
}

/** The adapter's metadata, in the order written. */
export function ggufLoraKv(set: LoraSet, config: LlamaConfig, opts: GgufLoraOptions = {}): [string, GgufKv][] {
  const arch = FAMILIES[config.architecture].ggufArch;
  const kv: [string, GgufKv][] = [
    ['general.architecture', { type: GgufValueType.STRING, value: arch }],
    ['general.type', { type: GgufValueType.STRING, value: 'adapter' }],
  ];
  if (opts.name) kv.push(['general.name', { type: GgufValueType.STRING, value: opts.name }]);
  kv.push(['adapter.type', { type: GgufValueType.STRING, value: 'lora' }], ['adapter.lora.alpha', { type: GgufValueType.FLOAT32, value: set.alpha }]);
  const fixed = new Set(kv.map(([k]) => k).filter((k) => k !== 'general.name'));
  for (const [k] of opts.kv ?? []) if (fixed.has(k)) throw new ExportError(FORMAT, `metadata key ${k} is set by the adapter format and cannot be overridden`);
  return mergeKv(kv, opts.kv);
}

/**
 * Write the adapter to a sink (returns the bytes written) or as one file into a
 * target (committed only when complete). Checks the set against `config` first.
 */
export async function writeGgufLoraAdapter(out: ExportTarget | ByteSink, set: LoraSet, config: LlamaConfig, opts: GgufLoraOptions = {}): Promise<number> {
  checkLoraSet(set, FORMAT);
  checkAgainstModel(set, config);
  if (set.alpha === 0) throw new ExportError(FORMAT, 'alpha is 0: llama.cpp would read it as scale 1 and apply the adapter, sub4 applies none');
  const fileName = opts.fileName ?? GGUF_LORA_FILE;
  const kv = ggufLoraKv(set, config, opts);
  const entries: { spec: GgufTensorSpec; data: () => Float32Array }[] = sortedFactors(set).flatMap((f) => {
    const base = ggufLoraBase(f.layer, f.role);
    // Each tensor's own rank (a --budget plan's): llama.cpp reads it from lora_b and scales by alpha / rank per tensor.
    const R = factorRank(set, f);
    return [
      { spec: { name: `${base}.lora_a`, ne: [f.inFeatures, R], type: GgmlType.F32 }, data: () => f.a },
      { spec: { name: `${base}.lora_b`, ne: [R, f.outFeatures], type: GgmlType.F32 }, data: () => ggufLoraB(f, R, config) },
    ];
  });
  const write = (sink: ByteSink) =>
    writeGguf(
      sink,
      kv,
      entries.map((e) => e.spec),
      (_, i) => {
        const d = entries[i].data();
        return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
      },
      fileName,
    );
  if (!('create' in out)) return write(out);
  let size = 0;
  await writeExportFile(out, fileName, async (sink) => void (size = await write(sink)));
  return size;
}
