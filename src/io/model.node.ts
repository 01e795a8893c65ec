// Node: open a model from a path, a .gguf file or a Hugging Face folder.
import { stat } from 'node:fs/promises';
import { FormatError } from '../base/errors.ts';
import { folderFromPath } from './hf_folder.node.ts';
import { openModel } from './model.ts';
import { type LoadedModel } from './loaded_model.ts';
import { fileSource } from './source.node.ts';

export async function openModelPath(path: string): Promise<LoadedModel> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new FormatError(path, 'no such file or folder');
  }
  if (st.isDirectory()) return openModel({ kind: 'folder', folder: folderFromPath(path) });
  return openModel({ kind: 'gguf', source: await fileSource(path) });
}
