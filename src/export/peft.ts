// Hugging Face PEFT LoRA adapter (docs/formats.md §5): adapter_config.json and
// adapter_model.safetensors, loadable by PeftModel.from_pretrained / AutoPeft-
// ModelForCausalLM, vLLM and llama.cpp's convert_lora_to_gguf.py.
// - Keys: base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight [r, in]
//   and …lora_B.weight [out, r] (mlp.* for gate/up/down): nn.Linear(in, r) and
//   nn.Linear(r, out) as PEFT builds them, the adapter name already removed.
// - Rows are in HF order, which is the engine's (q/k half-split), so the
//   factors are written as they are; only the GGUF adapter permutes q/k.
// - DoRA (factors with a magnitude): use_dora true and one
//   …lora_magnitude_vector [out] per module (formats-2.md §5.1). PEFT takes the
//   norm of the base it loads (dequantized for GPTQ), so m means the same only
//   on the base the run trained on: float weights, or its GPTQ export.
// - The config lists every field PEFT's LoraConfig saves that changes what the
//   adapter means, set to the values sub4 trains with (no rsLoRA, no bias, no modules_to_save: vLLM refuses the last three otherwise).
//   target_modules is the set of leaf names actually present; a module PEFT
//   creates from it but finds no tensors for keeps PEFT's init (B = 0), which
//   adds nothing, so partial layer coverage still means the same adapter.
// The weights are written first and the config last, so a folder whose config
// exists holds a complete adapter (each file is committed atomically).
import { writeSafetensors, type SafetensorsWriteTensor } from '../io/safetensors/writer.ts';
import { LINEAR_ROLES } from '../arch/params.ts';
import { checkLoraSet } from './lora_check.ts';
import { factorRank, LORA_MODULES, moduleLeaf, sortedFactors, type LoraSet } from '../io/lora/set.ts';
import { ExportError, writeExportFile, writeWholeFile, type ExportTarget } from './target.ts';
import { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, peftKey, peftMagnitudeKey } from '../io/lora/peft_names.ts';

export interface PeftOptions {
  /** base_model_name_or_path: a Hub id or a local path (PEFT loads the base from it). */
  baseModel: string;
  /** Hub revision of the base, when known. */
  revision?: string | null;
  /** Tensor dtype; F32 keeps the trained factors exactly. */
  dtype?: 'F32';
}

/** adapter_config.json as an object (key order as written). */
export function peftAdapterConfig(set: LoraSet, opts: PeftOptions): Record<string, unknown> {
  const present = new Set(set.factors.map((f) => f.role));
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: opts.baseModel,
    revision: opts.revision ?? null,
    r: set.rank,
    lora_alpha: set.alpha,
    lora_dropout: 0.0,
    bias: 'none',
    fan_in_fan_out: false,
    use_rslora: false,
    use_dora: set.factors.some((f) => f.magnitude),
    inference_mode: true,
    init_lora_weights: true,
    modules_to_save: null,
    target_modules: LINEAR_ROLES.filter((r) => present.has(r)).map(moduleLeaf),
    layers_to_transform: null,
    layers_pattern: null,
    // Per-matrix ranks (a --budget plan's): PEFT builds each listed module at its rank, scale lora_alpha / rank.
    // A module with no factors (planned rank 0) keeps PEFT's init, B = 0: it adds nothing.
    rank_pattern: Object.fromEntries(sortedFactors(set).filter((f) => factorRank(set, f) !== set.rank).map((f) => [`model.layers.${f.layer}.${LORA_MODULES[f.role]}`, factorRank(set, f)])),
    alpha_pattern: {},
  };
}

/** Write adapter_model.safetensors, then adapter_config.json, into `target`. */
export async function writePeftAdapter(target: ExportTarget, set: LoraSet, opts: PeftOptions): Promise<void> {
  checkLoraSet(set, 'PEFT', true);
  const dora = set.factors.filter((f) => f.magnitude).length;
  if (dora !== 0 && dora !== set.factors.length) throw new ExportError('PEFT', `${dora} of ${set.factors.length} modules are DoRA; use_dora is one flag for the whole adapter`);
  if (typeof opts.baseModel !== 'string' || opts.baseModel.length === 0) throw new ExportError('PEFT', 'baseModel (base_model_name_or_path) is empty');
  if ((opts.dtype ?? 'F32') !== 'F32') throw new ExportError('PEFT', `dtype ${opts.dtype} is not supported (F32)`);
  const tensors: SafetensorsWriteTensor[] = sortedFactors(set).flatMap((f) => [
    { name: peftKey(f.layer, f.role, 'A'), dtype: 'F32', shape: [factorRank(set, f), f.inFeatures], data: f.a },
    { name: peftKey(f.layer, f.role, 'B'), dtype: 'F32', shape: [f.outFeatures, factorRank(set, f)], data: f.b },
    ...(f.magnitude ? [{ name: peftMagnitudeKey(f.layer, f.role), dtype: 'F32' as const, shape: [f.outFeatures], data: f.magnitude }] : []),
  ]);
  await writeExportFile(target, PEFT_WEIGHTS_FILE, (sink) => writeSafetensors(sink, tensors, { metadata: { format: 'pt' }, file: PEFT_WEIGHTS_FILE }).then(() => {}));
  await writeWholeFile(target, PEFT_CONFIG_FILE, `${JSON.stringify(peftAdapterConfig(set, opts), null, 2)}\n`);
}
