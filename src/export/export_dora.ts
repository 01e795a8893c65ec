// What a DoRA run can be written to (export.ts asks per format): the merged F16
// checkpoint always, PEFT's DoRA adapter on non-AQLM bases, and nothing that
// holds no magnitude vectors (llama.cpp and mlx-lm adapters; PEFT on AQLM).
import type { ExportChoice } from './export_types.ts';
import type { TunedModel } from './tuned.ts';

export const isDora = (tm: TunedModel) => tm.lora?.factors.some((f) => f.magnitude) === true;

/** The float checkpoint with the adapter merged (merged.ts): any Hugging Face base. */
export function mergedChoice(tm: TunedModel): ExportChoice {
  if (!tm.base.hf) return { format: 'merged', ok: false, detail: `a merged checkpoint needs a Hugging Face base folder (config.json, tokenizer files); ${tm.base.name} is a GGUF`, notes: [] };
  const what = tm.lora ? (isDora(tm) ? 'the DoRA update (magnitude over row norm) merged' : 'the LoRA factors merged') : 'the tuned base';
  return { format: 'merged', ok: true, detail: `F16 safetensors Hugging Face folder: every linear layer is the run's weight with ${what}`, notes: [] };
}

/**
 * What a DoRA run cannot write: llama.cpp's converter and mlx-lm's adapters take
 * no magnitude vectors, and PEFT refuses DoRA on AQLM layers (formats-2.md §5).
 */
export function doraLimits(c: ExportChoice, tm: TunedModel, learned: boolean): ExportChoice {
  if (!isDora(tm)) return c;
  // The learned-codebook refusals point at aqlm / gguf-lora, which a DoRA run cannot take either.
  if (!c.ok) return learned ? { ...c, detail: c.detail.replace(/: export .*$/, ': export merged (PEFT refuses DoRA on AQLM, llama.cpp adapters hold no DoRA)') } : c;
  const no = (detail: string): ExportChoice => ({ ...c, ok: false, detail, notes: [] });
  if (c.format === 'gguf-lora') return no('a DoRA adapter has magnitude vectors, which llama.cpp\'s LoRA adapters cannot hold (convert_lora_to_gguf.py rejects them): export merged');
  if (c.format === 'mlx') return no('a DoRA adapter has magnitude vectors, which the mlx-lm LoRA adapter sub4 writes does not carry: export merged');
  if ((c.format === 'aqlm' || c.format === 'peft') && learned) return no('PEFT refuses DoRA on AQLM layers: export merged (F16, the update merged), or keep the sub4 trained state for eval and generate');
  if (c.format === 'peft') return { ...c, detail: 'PEFT DoRA adapter (use_dora, lora_magnitude_vector per module; PEFT takes the row norms of the base it loads, the float model or this run\'s GPTQ export)' };
  return c;
}
