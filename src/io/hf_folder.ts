// Opening a Hugging Face model folder: config.json → LlamaConfig, and the
// weights as one SafetensorsStore (model.safetensors, or shards through
// model.safetensors.index.json). The folder is an interface so the same code
// serves a folder dropped in the browser (folderFromFiles) and a directory in
// Node (hf_folder.node.ts).
import { configFromHf, type LlamaConfig } from '../arch/config.ts';
import { ConfigError, SafetensorsError, UnsupportedError } from '../base/errors.ts';
import { openShardedSafetensors, parseShardIndex } from './safetensors/index.ts';
import { openSafetensors, type SafetensorsStore } from './safetensors/reader.ts';
import { blobSource, type ByteSource } from './source.ts';

/** A flat folder of files (subfolders are not looked at). */
export interface FolderSource {
  readonly name: string;
  /** Plain file names. */
  list(): readonly string[];
  open(file: string): Promise<ByteSource>;
}

/** Files picked with <input webkitdirectory> or dropped; files inside subfolders are skipped. */
export function folderFromFiles(files: Iterable<File>, name?: string): FolderSource {
  const byName = new Map<string, File>();
  let folderName = name;
  for (const f of files) {
    const rel = (f as File & { webkitRelativePath?: string }).webkitRelativePath ?? '';
    const parts = rel.split('/').filter(Boolean);
    if (parts.length > 2) continue;
    if (parts.length === 2) folderName ??= parts[0];
    if (!byName.has(f.name)) byName.set(f.name, f);
  }
  const folder = folderName ?? 'folder';
  return {
    name: folder,
    list: () => [...byName.keys()],
    async open(file) {
      const f = byName.get(file);
      if (!f) throw new SafetensorsError(`${folder}/${file}`, 'file not found in the folder');
      return blobSource(f, file);
    },
  };
}

const MAX_JSON_BYTES = 64 * 1024 * 1024;

/** Reads a small JSON file from the folder; `err` builds the typed error for this kind of file. */
export async function readFolderJson(
  folder: FolderSource,
  file: string,
  err: (file: string, detail: string) => Error,
): Promise<unknown> {
  const path = `${folder.name}/${file}`;
  const src = await folder.open(file);
  try {
    if (src.size > MAX_JSON_BYTES) throw err(path, `file is ${src.size} bytes; a JSON file this large is not a model description`);
    const text = new TextDecoder('utf-8', { fatal: false }).decode(await src.read(0, src.size));
    try {
      return JSON.parse(text);
    } catch (e) {
      throw err(path, `not valid JSON (${(e as Error).message})`);
    }
  } finally {
    await src.close?.();
  }
}

export interface HfModelFolder {
  readonly folder: FolderSource;
  readonly config: LlamaConfig;
  /** The parsed config.json, for fields LlamaConfig does not carry (torch_dtype, quantization_config...). */
  readonly configJson: Record<string, unknown>;
  readonly weights: SafetensorsStore;
  /** The weight files, in order (one, or the shards). */
  readonly weightFiles: readonly string[];
  close(): Promise<void>;
}

export async function openHfFolder(folder: FolderSource): Promise<HfModelFolder> {
  const files = new Set(folder.list());
  if (!files.has('config.json'))
    throw new ConfigError(folder.name, `no config.json in the folder (found: ${[...files].slice(0, 20).join(', ') || 'nothing'})`);
  const configJson = (await readFolderJson(folder, 'config.json', (f, d) => new ConfigError(f, d))) as Record<string, unknown>;
  const config = configFromHf(configJson, `${folder.name}/config.json`);

  const INDEX = 'model.safetensors.index.json';
  let weights: SafetensorsStore;
  let weightFiles: string[];
  if (files.has(INDEX)) {
    const indexPath = `${folder.name}/${INDEX}`;
    const src = await folder.open(INDEX);
    let text: string;
    try {
      if (src.size > MAX_JSON_BYTES) throw new SafetensorsError(indexPath, `file is ${src.size} bytes, too large for an index`);
      text = new TextDecoder().decode(await src.read(0, src.size));
    } finally {
      await src.close?.();
    }
    const index = parseShardIndex(text, indexPath);
    weights = await openShardedSafetensors(index, indexPath, { has: (f) => files.has(f), open: (f) => folder.open(f) });
    weightFiles = [...index.files];
  } else if (files.has('model.safetensors')) {
    weights = await openSafetensors(await folder.open('model.safetensors'));
    weightFiles = ['model.safetensors'];
  } else if ([...files].some((f) => f.endsWith('.bin') || f.endsWith('.pt') || f.endsWith('.pth'))) {
    throw new UnsupportedError(folder.name, 'weights are PyTorch pickles (.bin/.pt); sub4 reads only safetensors (save with safe_serialization=True)');
  } else {
    throw new SafetensorsError(folder.name, `no model.safetensors or ${INDEX} in the folder`);
  }
  return { folder, config, configJson, weights, weightFiles, close: () => weights.close() };
}
