// Which model a set of dropped or picked files is: one .gguf file, or the
// files of one Hugging Face folder. A drop can hold anything (a parent folder,
// a .gguf next to its README, two model folders), so the choice is made here,
// once, in plain rules, and anything that does not name one model is refused
// with a ModelFilesError that says what arrived and what to drop instead.
import { FormatError } from '../base/errors.ts';
import { folderFromFiles } from '../io/hf_folder.ts';
import type { ModelInput } from '../io/loaded_model.ts';
import { blobSource } from '../io/source.ts';
import type { ModelFileRef } from './protocol.ts';

/** The dropped files do not name exactly one model (none, several, or nothing sub4 reads). */
export class ModelFilesError extends FormatError {}

export interface ModelChoice {
  input: ModelInput;
  /** The paths that make up the model. */
  opened: string[];
  /** Everything else that was dropped. */
  ignored: string[];
  /** Total size of the opened files (the denominator of read progress). */
  bytes: number;
}

const WHAT_TO_DROP =
  'Drop one .gguf file, or one Hugging Face model folder (config.json, model.safetensors or its shards with model.safetensors.index.json, tokenizer.json).';

interface Entry {
  path: string;
  dir: string;
  name: string;
  depth: number;
  file: File;
}

function entry(ref: ModelFileRef): Entry {
  // Pickers give "folder/file" (webkitRelativePath) or the bare name; drops give the walked path.
  const parts = (ref.path || ref.file.name).split('/').filter(Boolean);
  const name = parts.pop() ?? ref.file.name;
  return { path: [...parts, name].join('/'), dir: parts.join('/'), name, depth: parts.length, file: ref.file };
}

/** "3 dropped files (a, b, c)" with the list cut short, for messages. */
function describe(entries: readonly Entry[]): string {
  const shown = entries.slice(0, 6).map((e) => e.path);
  const more = entries.length > shown.length ? `, and ${entries.length - shown.length} more` : '';
  return `${entries.length} dropped file${entries.length === 1 ? '' : 's'} (${shown.join(', ')}${more})`;
}

const isGguf = (e: Entry) => e.name.toLowerCase().endsWith('.gguf');
const isHfMarker = (e: Entry) => e.name === 'config.json' || e.name.endsWith('.safetensors') || e.name === 'model.safetensors.index.json';

export function chooseModel(refs: readonly ModelFileRef[]): ModelChoice {
  const entries = refs.map(entry);
  if (entries.length === 0) throw new ModelFilesError('the drop', `no files arrived. ${WHAT_TO_DROP}`);

  const ggufs = entries.filter(isGguf);
  if (ggufs.length > 1) {
    const split = ggufs.some((e) => /-\d{5}-of-\d{5}\.gguf$/i.test(e.name));
    throw new ModelFilesError(
      describe(ggufs),
      `${ggufs.length} .gguf files arrived and sub4 opens one model at a time; drop just one.` +
        (split ? ' Split GGUF files (-00001-of-0000N) are not supported: join them with llama-gguf-split --merge first.' : ''),
    );
  }
  if (ggufs.length === 1) {
    // A .gguf is a whole model; files beside it (README, a config.json) play no part.
    const g = ggufs[0];
    return { input: { kind: 'gguf', source: blobSource(g.file, g.path) }, opened: [g.path], ignored: others(entries, [g]), bytes: g.file.size };
  }

  const root = hfRoot(entries);
  if (root === null)
    throw new ModelFilesError(describe(entries), `none is a .gguf file, a config.json or a .safetensors file, so there is no model here. ${WHAT_TO_DROP}`);
  const members = entries.filter((e) => e.dir === root);
  // folderFromFiles reads webkitRelativePath to skip subfolders; the choice is already made
  // here (the picked folder may be a parent), so each File is re-wrapped without a path.
  // new File([blob]) references the same bytes; nothing is read.
  const files = members.map((e) => new File([e.file], e.name, { type: e.file.type, lastModified: e.file.lastModified }));
  const name = root.split('/').pop() || 'model';
  return {
    input: { kind: 'folder', folder: folderFromFiles(files, name) },
    opened: members.map((e) => e.path),
    ignored: others(entries, members),
    bytes: members.reduce((n, e) => n + e.file.size, 0),
  };
}

/** The folder holding the model: the shallowest one with a config.json (else with safetensors); null if none. */
function hfRoot(entries: readonly Entry[]): string | null {
  const configs = entries.filter((e) => e.name === 'config.json');
  const markers = configs.length > 0 ? configs : entries.filter(isHfMarker);
  if (markers.length === 0) return null;
  const depth = Math.min(...markers.map((e) => e.depth));
  const dirs = [...new Set(markers.filter((e) => e.depth === depth).map((e) => e.dir))];
  if (dirs.length > 1)
    throw new ModelFilesError(
      describe(entries),
      `${dirs.length} model folders arrived (${dirs.map((d) => `${d}/`).join(', ')}) and sub4 opens one model at a time; drop just one.`,
    );
  return dirs[0];
}

function others(all: readonly Entry[], used: readonly Entry[]): string[] {
  const set = new Set(used);
  return all.filter((e) => !set.has(e)).map((e) => e.path);
}
