// The names a Hugging Face PEFT adapter folder uses (docs/formats.md §5): its two
// files and the safetensors key of each LoRA factor. Shared by the reader
// (src/io/lora/peft_read.ts) and the writer (src/export/peft.ts).
import { LORA_MODULES } from './set.ts';

export const PEFT_CONFIG_FILE = 'adapter_config.json';

export const PEFT_WEIGHTS_FILE = 'adapter_model.safetensors';

/** What PEFT's save_pretrained puts in front of the base model's own module path. */
export const PEFT_PREFIX = 'base_model.model.';

/** The safetensors key of one factor. */
export function peftKey(layer: number, role: keyof typeof LORA_MODULES, factor: 'A' | 'B'): string {
  return `${PEFT_PREFIX}model.layers.${layer}.${LORA_MODULES[role]}.lora_${factor}.weight`;
}

/** DoRA's magnitude key: saved without `.weight` (PEFT's _get_adapter_state_dict strips it; formats-2.md §5.1). */
export function peftMagnitudeKey(layer: number, role: keyof typeof LORA_MODULES): string {
  return `${PEFT_PREFIX}model.layers.${layer}.${LORA_MODULES[role]}.lora_magnitude_vector`;
}
