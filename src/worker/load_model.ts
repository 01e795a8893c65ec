// The load-model request: choose the model among the dropped files, open it
// while reporting which file is being read, make it the engine's current
// model and answer with its facts. Files are read a slice at a time through
// ByteSource (Blob.slice in the worker), never whole.
import { openModel } from '../io/model.ts';
import { type LoadedModel, type ModelInput } from '../io/loaded_model.ts';
import type { FolderSource } from '../io/hf_folder.ts';
import type { ByteSource } from '../io/source.ts';
import { modelFacts } from '../model/facts.ts';
import { paramSpec } from '../arch/params.ts';
import { chooseModel } from './model_files.ts';
import type { ModelSlot } from './model_slot.ts';
import { assertPlainData } from './plain_data.ts';
import type { ModelFileRef, ModelFilesChecked, ModelLoaded } from './protocol.ts';
import { PhaseClock } from '../base/phase_clock.ts';
import { Sub4Error } from '../base/errors.ts';

/** The page cancelled a load (the Cancel button on the model card): no model is current afterwards. */
export class ModelLoadCancelledError extends Sub4Error {}

type Progress = (phase: string, done: number, total: number) => void;

/** The load phase a file's reads belong to, as the UI names it. */
export function phaseOf(file: string): string {
  const name = file.split('/').pop() ?? file;
  if (name === 'config.json') return 'config';
  if (name.startsWith('tokenizer') || name === 'special_tokens_map.json' || name === 'generation_config.json') return 'tokenizer';
  // GGUF header (metadata, tokenizer vocabulary, tensor infos) and safetensors headers.
  return 'reading header';
}

/** Which of the dropped files a load would open, without opening them: a ModelFilesError when they name no model. */
export function checkModelFiles(files: readonly ModelFileRef[]): ModelFilesChecked {
  const { opened, ignored } = chooseModel(files);
  return { opened, ignored };
}

export async function loadModel(files: readonly ModelFileRef[], slot: ModelSlot, progress: Progress, signal?: AbortSignal): Promise<ModelLoaded> {
  // Chosen before begin(), which closes the current model and stops a running job: a drop that names
  // no model (a data file on "Model files") is refused here and changes nothing.
  const choice = chooseModel(files);
  const ticket = await slot.begin();
  const t0 = performance.now();
  const clock = new PhaseClock();
  // Progress is the furthest byte reached in each file, not the bytes read: the GGUF header
  // reader re-reads an item from its start when a slice ends inside it, and those bytes
  // would otherwise count twice (the bar would pass 100 %).
  const reached = new Map<string, number>();
  let read = 0;
  // Checked before every read: a cancelled load stops at the next slice (the reader closes what it opened).
  const check = () => {
    if (signal?.aborted) throw new ModelLoadCancelledError(`Opening ${choice.opened[0] ?? 'the model'} was cancelled; no model is open.`);
  };
  const onRead = (file: string, end: number) => {
    const before = reached.get(file) ?? 0;
    if (end <= before) return;
    reached.set(file, end);
    read += end - before;
    progress(phaseOf(file), read, choice.bytes);
  };
  check();
  const model = await openModel(observed(choice.input, onRead, check, clock));
  const opened = performance.now();
  progress('facts', 0, 1);
  let facts;
  try {
    check();
    facts = clock.time('facts', () => assertPlainData(modelFacts(model), 'facts'));
  } catch (e) {
    await model.close();
    throw e;
  }
  await slot.commit(ticket, model);
  progress('facts', 1, 1);
  // Parsing is what opening took beyond waiting on reads (headers, tokenizer, config).
  const phases = { read: clock.ms.read ?? 0, parse: Math.max(0, opened - t0 - (clock.ms.read ?? 0)), facts: clock.ms.facts ?? 0 };
  return { facts, opened: choice.opened, ignored: choice.ignored, linearTypes: linearTypes(model), split: { totalMs: performance.now() - t0, phases } };
}

/** Storage types of the layers' linear weights, as `sub4 tune` hands them to plannedExports. */
function linearTypes(m: LoadedModel): string[] {
  const types = paramSpec(m.config).filter((p) => p.kind === 'linear' && p.layer !== null).map((p) => m.tensors.get(p.name)?.type ?? 'missing');
  return [...new Set(types)];
}

type OnRead = (file: string, end: number) => void;

/** The same input whose every read is reported (where it ended) and timed, so progress follows real I/O. */
function observed(input: ModelInput, onRead: OnRead, check: () => void, clock: PhaseClock): ModelInput {
  if (input.kind === 'gguf') return { kind: 'gguf', source: observeSource(input.source, onRead, check, clock) };
  const folder: FolderSource = input.folder;
  return {
    kind: 'folder',
    folder: {
      name: folder.name,
      list: () => folder.list(),
      open: async (file) => observeSource(await folder.open(file), onRead, check, clock),
    },
  };
}

function observeSource(src: ByteSource, onRead: OnRead, check: () => void, clock: PhaseClock): ByteSource {
  return {
    name: src.name,
    size: src.size,
    async read(offset, length, into) {
      check();
      const bytes = await clock.timeAsync('read', () => src.read(offset, length, into));
      onRead(src.name, offset + bytes.length);
      return bytes;
    },
    close: src.close ? () => src.close!() : undefined,
  };
}
