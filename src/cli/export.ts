// `sub4 export <trained-state> --format gguf|gguf-lora|peft|gptq|mlx|aqlm|merged --out <folder>`:
// write what `sub4 tune` trained in a format other tools load unchanged
// (src/export/export.ts). The base model is the one the run trained on
// (its path is in the state's manifest; --base overrides it when it moved).
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from './args.ts';
import { UsageError } from './args.ts';
import { folderTarget } from '../export/target.node.ts';
import { openModelPath } from '../io/model.node.ts';
import { FormatError } from '../base/errors.ts';
import { EXPORT_FORMATS, exportChoices, exportTuned, type ExportFormat, type ExportResult } from '../export/export.ts';
import { tunedModel } from '../export/tuned.ts';
import { decodeTrainedState, STATE_MANIFEST_FILE } from '../train/state.ts';
import { withGgufLayers } from '../train/budget/overlay.ts';

async function readOr(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch {
    throw new FormatError(path, 'cannot be read (is this a folder written by sub4 tune --out?)');
  }
}

/** Export a saved trained state; shared with `sub4 tune --format`. */
export async function exportStateFolder(stateDir: string, format: ExportFormat, out: string, basePath?: string, log: (s: string) => void = () => {}): Promise<ExportResult> {
  const manifestPath = join(stateDir, STATE_MANIFEST_FILE);
  const json = (await readOr(manifestPath)).toString('utf8');
  const manifestFile = JSON.parse(json) as { tensorsFile?: string; base?: { path?: string } };
  const bytes = await readOr(join(stateDir, manifestFile.tensorsFile ?? 'trained.safetensors'));
  const state = await decodeTrainedState(json, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), manifestPath);
  const base = await openModelPath(basePath ?? state.manifest.base.path);
  try {
    const tm = await tunedModel(withGgufLayers(base, state.ggufBase, state.vqBase), state, manifestPath);
    const res = await exportTuned(tm, format, await folderTarget(out), { onProgress: (_d, _t, f) => log(`writing ${f}`) });
    res.notes.forEach((n) => log(n));
    return res;
  } finally {
    await base.close();
  }
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'write a trained state as GGUF, a llama.cpp or PEFT LoRA adapter, GPTQ or MLX safetensors, or an AQLM checkpoint (ReALLM runs)',
  usage: [
    'usage: sub4 export <trained-state folder> --format gguf|gguf-lora|peft|gptq|mlx|aqlm|merged --out <folder> [--base <model>]',
    '  --format   gguf: the quantized model with its tuned scales (codes untouched), in the base\'s block types',
    '             gguf-lora: llama.cpp LoRA adapter (adapter.gguf) + the quantized base (<model>-<method>-<bits>.gguf)',
    '                        (a --method reallm run: its codebooks re-encoded into GGUF types, approximate, the added error reported)',
    '             peft: adapter_config.json + adapter_model.safetensors for PEFT / transformers / vLLM',
    '             gptq: GPTQ safetensors + config.json + tokenizer files (models quantized by sub4 from safetensors)',
    '             mlx: MLX affine safetensors (+ an mlx-lm LoRA adapter) + config.json + tokenizer files (as gptq)',
    '             aqlm: AQLM folder of a --method reallm run\'s learned codebooks + its PEFT adapter beside it',
    '             merged: F16 safetensors + config.json + tokenizer files, the LoRA / DoRA update merged (HF bases)',
    '  --out      the folder to write (created; every export also gets a README.md model card)',
    '  --base     the base model, when it is no longer where the run found it',
    '  --list     print which formats this state can be written to, and why not',
  ].join('\n'),
  options: { format: { type: 'string' }, out: { type: 'string' }, base: { type: 'string' }, list: { type: 'boolean' } },
  async run(values, positionals) {
    if (positionals.length !== 1) throw new UsageError(`export takes one trained-state folder\n\n${this.usage}`);
    const log = (s: string) => console.error(`sub4 export: ${s}`);
    if (values.list === true) {
      const json = (await readOr(join(positionals[0], STATE_MANIFEST_FILE))).toString('utf8');
      const bytes = await readOr(join(positionals[0], 'trained.safetensors'));
      const state = await decodeTrainedState(json, new Uint8Array(bytes), join(positionals[0], STATE_MANIFEST_FILE));
      const base = await openModelPath(typeof values.base === 'string' ? values.base : state.manifest.base.path);
      try {
        for (const c of exportChoices(await tunedModel(withGgufLayers(base, state.ggufBase, state.vqBase), state, positionals[0]))) console.log(`${c.format.padEnd(10)} ${c.ok ? 'yes' : 'no '}  ${c.detail}`);
      } finally {
        await base.close();
      }
      return 0;
    }
    const format = values.format as ExportFormat;
    if (!EXPORT_FORMATS.includes(format)) throw new UsageError(`--format must be ${EXPORT_FORMATS.join(', ')}, got ${JSON.stringify(values.format)}\n\n${this.usage}`);
    if (typeof values.out !== 'string') throw new UsageError(`export needs --out <folder>\n\n${this.usage}`);
    const out = resolve(values.out);
    const res = await exportStateFolder(positionals[0], format, out, typeof values.base === 'string' ? values.base : undefined, log);
    console.log(`wrote ${res.files.join(', ')} to ${out}`);
    return 0;
  },
};
