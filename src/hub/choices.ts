// Which models a repo's file listing offers: each .gguf file is one (a GGUF
// repo holds one per quantization: Q4_K_M, Q8_0, …), and a top-level
// config.json with safetensors weights is the safetensors set (the weights and
// their index plus the config and tokenizer files the engine reads). Other files
// (README, images, ONNX or PyTorch weights, subfolders) are never downloaded.
import type { HubFile } from './api.ts';

export interface ModelChoice {
  kind: 'gguf' | 'safetensors';
  /** "Q4_K_M (stories.Q4_K_M.gguf)" or "safetensors (3 files)": what the picker shows. */
  label: string;
  /** Paths to download, in the repo. */
  files: string[];
  bytes: number;
}

/** Files of a safetensors set besides the weights; each is taken when the repo has it. */
const COMPANIONS = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'tokenizer.model',
  'model.safetensors.index.json',
];

/** A llama.cpp type name in a GGUF file name, for the label. */
const QUANT = /(?:^|[-_.])((?:I?Q\d(?:_[A-Z0-9]+)*)|F16|F32|BF16)(?=[-_.])/i;

export function modelChoices(files: readonly HubFile[]): ModelChoice[] {
  const size = new Map(files.map((f) => [f.path, f.size]));
  const sum = (paths: string[]) => paths.reduce((n, p) => n + (size.get(p) ?? 0), 0);
  const out: ModelChoice[] = [];
  for (const f of files) {
    if (!f.path.toLowerCase().endsWith('.gguf')) continue;
    // Projectors of vision models are GGUF files too, but not a language model.
    if (/mmproj/i.test(f.path)) continue;
    const name = f.path.split('/').pop() ?? f.path;
    const q = QUANT.exec(name)?.[1];
    out.push({ kind: 'gguf', label: q ? `${q.toUpperCase()} (${f.path})` : f.path, files: [f.path], bytes: f.size });
  }
  const top = files.filter((f) => !f.path.includes('/'));
  const weights = top.filter((f) => f.path.endsWith('.safetensors')).map((f) => f.path);
  if (weights.length > 0 && size.has('config.json')) {
    const set = [...COMPANIONS.filter((p) => size.has(p)), ...weights.sort()];
    out.push({ kind: 'safetensors', label: `safetensors (${set.length} files)`, files: set, bytes: sum(set) });
  }
  return out;
}
