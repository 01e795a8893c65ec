// The inputs of the training requests, checked before any GPU work: the run's
// settings (each out-of-range value a RequestParamError naming the field as the
// panel labels it) and the dropped data file, read in the worker and decoded as
// strict UTF-8 (what `sub4 tune` reads), then turned into the dataset report the
// page shows before Start.
import { DatasetError, rowPlace, type PreparedDataset } from '../train/data/index.ts';
import { trainConfig, TUNE_METHODS } from '../train/setup.ts';
import type { LoadedModel } from '../io/loaded_model.ts';
import type { TrainConfig } from '../model/trainable.ts';
import type { QuantizeOptions } from '../train/quantize_model.ts';
import { boolParam, intParam, numParam, RequestParamError } from './errors.ts';
import { checkRepair } from './repair.ts';
import type { RepairSettings, TrainDataFile, TrainDataReport, TrainSettings } from './protocol.ts';

/** Larger files are refused: the text and its tokens are held whole in the worker. */
export const MAX_DATA_BYTES = 256 << 20;
/** Problems sent to the page; the count says how many there were. */
const MAX_PROBLEMS = 100;

/** Settings after checkSettings: every field present. */
export type CheckedSettings = TrainSettings & { checkpointEvery: number | null; earlyStop: number; budget: number | null; repair: RepairSettings | null; dora: boolean; trainCodebooks: boolean };

/** The methods DoRA goes with (LoRA factors on a frozen base), as `sub4 tune --dora` takes them. */
const DORA_METHODS: readonly TrainSettings['method'][] = ['lora', 'lqlora', 'reallm'];

/** The settings of train and train-plan, every field checked. */
export function checkSettings(s: TrainSettings): CheckedSettings {
  if (!TUNE_METHODS.includes(s.method)) throw new RequestParamError('method', `must be ${TUNE_METHODS.join(', ')}, got ${String(s.method)}`);
  const bits = s.bits === null ? null : (intParam(s.bits, 'bits', 2, 4) as 2 | 3 | 4);
  if (s.method === 'lqlora' && bits === null) throw new RequestParamError('bits', 'LQ-LoRA builds its quantized base itself: choose 2, 3 or 4 bits');
  if (s.method === 'reallm' && bits === null) throw new RequestParamError('bits', 'ReALLM builds its learned-codebook base itself: choose 2, 3 or 4 bits (index bits per weight)');
  const group = s.group === 'channel' ? 'channel' : intParam(s.group, 'group', 1, 1 << 20);
  if (typeof s.samplePrompt !== 'string') throw new RequestParamError('sample prompt', 'must be text');
  const evalEvery = intParam(s.evalEvery, 'eval every', 0, 1_000_000);
  const earlyStop = intParam(s.earlyStop ?? 0, 'early stop', 0, 10_000);
  if (earlyStop > 0 && evalEvery === 0) throw new RequestParamError('early stop', 'watches the held-out loss during the run: set eval every to a number of steps first');
  const dora = boolParam(s.dora, 'DoRA');
  if (dora && !DORA_METHODS.includes(s.method)) throw new RequestParamError('DoRA', `adds a magnitude to LoRA on a frozen base: it needs LoRA, LQ-LoRA or ReALLM, not ${s.method}`);
  const trainCodebooks = boolParam(s.trainCodebooks, 'train codebooks');
  if (trainCodebooks && s.method !== 'reallm') throw new RequestParamError('train codebooks', `trains ReALLM's learned tables: it needs the ReALLM method, not ${s.method}`);
  return {
    method: s.method,
    bits,
    group,
    rank: intParam(s.rank, 'rank', 1, 4096),
    alpha: numParam(s.alpha, 'alpha', 1e-6, 1e6),
    steps: intParam(s.steps, 'steps', 1, 1_000_000),
    lr: numParam(s.lr, 'learning rate', 0, 10),
    batch: intParam(s.batch, 'batch', 1, 4096),
    seqLen: intParam(s.seqLen, 'seq len', 2, 1 << 16),
    evalEvery,
    evalWindows: intParam(s.evalWindows, 'eval windows', 0, 1 << 16),
    seed: intParam(s.seed, 'seed', 0, 0xffffffff),
    samplePrompt: s.samplePrompt,
    sampleTokens: intParam(s.sampleTokens, 'sample tokens', 1, 4096),
    // null: about every CHECKPOINT_SECONDS of training (the default the panel states).
    checkpointEvery: s.checkpointEvery === null || s.checkpointEvery === undefined ? null : intParam(s.checkpointEvery, 'checkpoint every', 0, 1_000_000),
    earlyStop,
    // A bit budget plans LQ-LoRA's base (calibrate.ts); other methods have none.
    budget: s.method === 'lqlora' && s.budget !== null && s.budget !== undefined ? numParam(s.budget, 'budget', 0.5, 64) : null,
    repair: checkRepair(s.repair),
    dora,
    trainCodebooks,
  };
}

/** What the run trains: trainConfig (src/train/setup.ts, as `sub4 tune` builds it) with DoRA and the codebooks as chosen. */
export function runConfig(file: LoadedModel, s: CheckedSettings): { cfg: TrainConfig; notes: string[] } {
  const r = trainConfig(file, s.method, s.rank, s.alpha, s.seed, quantOf(s) !== null);
  if (s.dora) {
    r.cfg.lora = { ...r.cfg.lora!, dora: true };
    r.notes.push('DoRA: a magnitude per output row trains beside the LoRA factors (PEFT\'s DoRA; the row norms detached)');
  }
  if (s.trainCodebooks) {
    r.cfg.codebooks = true;
    r.notes.push('Codebooks: every learned table entry and row scale trains too, the codes frozen');
  }
  return r;
}

/**
 * Seq len within the model's context (the positions it was trained on). The run refuses
 * more; train-plan calls this too, so the form says so beside the estimate before Start.
 */
export function checkSeqLenFits(seqLen: number, model: { name: string; config: { maxPositions: number } }): void {
  const max = model.config.maxPositions;
  if (seqLen > max) throw new RequestParamError('seq len', `${model.name} has a context of ${max} tokens, so seq len must be at most ${max}, got ${seqLen}`);
}

/** The quantization of float weights the settings ask for, or null. */
export function quantOf(s: TrainSettings): QuantizeOptions | null {
  return s.bits === null || s.method === 'reallm' ? null : { bits: s.bits, groupSize: s.group };
}

/** The run uploads a base of its own (quantized here, or ReALLM's codebooks) instead of borrowing the resident weights. */
export function buildsOwnBase(s: TrainSettings): boolean {
  return quantOf(s) !== null || s.method === 'reallm';
}

/** The storage the memory planner counts: ReALLM's codes as a per-row grid of as many bits (close: k/d bits and a row scale). */
export function plannedQuant(s: TrainSettings): QuantizeOptions | null {
  return s.method === 'reallm' && s.bits !== null ? { bits: s.bits, groupSize: 'channel' } : quantOf(s);
}

/** The file's name as given, or a stand-in for messages. */
export function dataName(req: TrainDataFile): string {
  if (!(req.file instanceof Blob)) throw new RequestParamError('data file', 'none was given; drop or pick a .txt, .jsonl or .json file');
  return typeof req.name === 'string' && req.name ? req.name : 'the dropped data';
}

/** The whole file as text; a file that is too large or not UTF-8 is a DatasetError naming it. */
export async function readDataText(file: Blob, name: string, progress: (phase: string, done: number, total: number) => void): Promise<string> {
  if (file.size > MAX_DATA_BYTES)
    throw new DatasetError(name, `is ${(file.size / 2 ** 20).toFixed(0)} MiB; the studio reads training data of at most ${MAX_DATA_BYTES >> 20} MiB (use sub4 tune for more, or a slice of it)`);
  progress('reading data', 0, file.size);
  const bytes = new Uint8Array(await file.arrayBuffer());
  progress('reading data', file.size, file.size);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new DatasetError(name, 'is not UTF-8 text; save it as UTF-8 and drop it again');
  }
}

/** What the page shows of a prepared dataset (plain data only). */
export function dataReport(ds: PreparedDataset, bytes: number, seqLen: number): TrainDataReport {
  return {
    file: ds.file,
    bytes,
    source: ds.parsed.source,
    kind: ds.parsed.kind,
    detail: ds.parsed.detail,
    counts: { ...ds.counts },
    preview: ds.preview.map((r) => ({ ...r, place: rowPlace(ds.parsed.source, r.line, r.index), segments: r.segments.map((g) => ({ ...g })) })),
    problems: ds.problems.slice(0, MAX_PROBLEMS).map((p) => ({
      line: p.line,
      message: p.message,
      kept: p.kept,
      place: rowPlace(ds.parsed.source, p.line, p.index),
      ...(p.index !== undefined ? { index: p.index } : {}),
    })),
    problemCount: ds.problems.length,
    notes: [...ds.notes],
    seqLen,
  };
}

/** A dataset that cannot make one training window of T tokens, said before any GPU work. */
export function checkTrainable(ds: PreparedDataset, seqLen: number): void {
  if (ds.counts.trainWindows === 0)
    throw new DatasetError(ds.file, `gives no training window of ${seqLen} tokens (${ds.counts.tokens} tokens in ${ds.counts.examples} examples); use a shorter seq len or more data`);
}
