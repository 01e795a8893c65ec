// Node: a PEFT adapter folder on disk → LoraSet (readPeftAdapter on its two files).
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ConfigError, SafetensorsError, UnsupportedError } from '../../base/errors.ts';
import { fileSource } from '../source.node.ts';
import { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE } from './peft_names.ts';
import { readPeftAdapter } from './peft_read.ts';
import type { LoraSet } from './set.ts';

export async function readPeftFolder(dir: string): Promise<LoraSet> {
  const abs = resolve(dir);
  const name = basename(abs);
  const configPath = join(abs, PEFT_CONFIG_FILE);
  const weightsPath = join(abs, PEFT_WEIGHTS_FILE);
  if (!existsSync(configPath)) throw new ConfigError(`${name}/${PEFT_CONFIG_FILE}`, `not found in ${abs} (is this a PEFT adapter folder?)`);
  if (!existsSync(weightsPath)) {
    if (existsSync(join(abs, 'adapter_model.bin')))
      throw new UnsupportedError(`${name}/adapter_model.bin`, 'pickled PyTorch weights are not read by sub4; save the adapter with safe_serialization=True (adapter_model.safetensors)');
    throw new SafetensorsError(`${name}/${PEFT_WEIGHTS_FILE}`, `not found in ${abs}`);
  }
  const src = await fileSource(weightsPath);
  // Errors name the folder too: every adapter's weights file has the same name.
  return readPeftAdapter({ config: readFileSync(configPath, 'utf8'), weights: { ...src, name: `${name}/${PEFT_WEIGHTS_FILE}` } }, name);
}
