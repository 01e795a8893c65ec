// `sub4 tune`'s settings: the flags parsed into one plain object, which every
// checkpoint carries, so `sub4 tune --resume DIR` rebuilds exactly the same run
// from the checkpoint alone. With --resume only the model path, --data and
// --eval-data may be given (when the files moved: the checkpoint's identity
// check still holds them to the same bytes), and --json.
import { resolve } from 'node:path';
import { UsageError } from './args.ts';
import { intFlag, numFlag } from './model_gpu.ts';
import type { PeqaKind } from '../model/trainable.ts';
import { EXPORT_FORMATS, type ExportFormat } from '../export/export.ts';
import { CLI_TUNE_METHODS as METHODS, type CliTuneMethod as Method } from '../train/setup.ts';
import { CheckpointError } from '../train/checkpoint/errors.ts';
import { WEIGHTINGS, type Weighting } from '../train/weighting.ts';
import { DIVERGENCES, type Divergence } from '../ref/distill.ts';

const PEQA_KINDS: readonly PeqaKind[] = ['auto', 'scale', 'scale+offset', 'gguf-superblock'];

export interface TuneSettings {
  /** Absolute paths. */
  model: string;
  data: string;
  evalData: string | null;
  method: Method;
  rank: number;
  /** No --rank given: a --budget plan picks each matrix's LoRA rank (absent in older checkpoints: the one rank). */
  rankPerMatrix?: boolean;
  alpha: number;
  /** DoRA (--dora): the LoRA factors plus a trained magnitude per output row (src/model/dora.ts). */
  dora?: boolean;
  steps: number;
  lr: number;
  warmup: number;
  batch: number;
  accumulate: number;
  seqLen: number;
  evalEvery: number;
  evalWindows: number;
  seed: number;
  bits: 2 | 3 | 4 | null;
  /** LQ-LoRA (or ReALLM) under a bit budget: bits per linear weight, LoRA factors included (src/train/budget/); null: off. */
  budget?: number | null;
  /** Importance matrix (llama.cpp imatrix, GGUF or .dat) weighting the budget plan's errors and quantizers. */
  imatrix?: string | null;
  /** ReALLM (--method reallm): weights per code and code bits, overriding the --bits rule (src/train/reallm.ts); null: the rule. */
  vqDim?: number | null;
  vqBits?: number | null;
  /** ReALLM (--train-codebooks): also train every learned table and row scale, indices frozen (src/model/codebook_train.ts). */
  trainCodebooks?: boolean;
  /** Data-aware LQ-LoRA (--method lqlora --bits): the split's importance; absent/'none': unweighted. */
  weighting?: Weighting;
  /** --weighting fisher: calibration text (absolute path) and at most this many windows of --seq tokens. */
  calib?: string | null;
  calibWindows?: number;
  /** The budget plan's candidate types (GGUF type names, sub4-<b>bit-g<G>); null: the default set. */
  types?: string[] | null;
  group: number | 'channel';
  peqa: PeqaKind;
  format: ExportFormat | null;
  sample: string | null;
  /** Chat data on a model without a chat template is rendered as plain User:/Assistant: turns (else refused). */
  plainChat: boolean;
  /** Steps between checkpoints; null: about every minute; 0: only when the run ends or stops. */
  checkpointEvery: number | null;
  /** Evaluations without a better held-out loss before stopping; 0: off. */
  earlyStop: number;
  /** Distill from this teacher path, or 'self' (the float model itself, with --bits); null: the label loss. */
  distill?: string | null;
  /** Teacher tokens per position (null: the whole vocabulary, the exact KL). */
  topK?: number | null;
  temperature?: number;
  /** With a teacher: 'kl' distills; 'label' trains on the labels and only scores against the teacher (a baseline). */
  distillLoss?: 'kl' | 'label';
  /** The distillation's divergence over the top-K buckets (--distill-loss; absent: kl). */
  divergence?: Divergence;
  /** DWQ's hidden-state term's weight (--hidden-loss W; live teacher only); null/absent: off. */
  hiddenLoss?: number | null;
}

type Values = Record<string, string | boolean | undefined>;

/** Settings from the command line (a new run). */
export function tuneSettings(values: Values, positionals: string[], usage: string): TuneSettings {
  if (positionals.length !== 1) throw new UsageError(`tune takes one model path\n\n${usage}`);
  if (typeof values.data !== 'string') throw new UsageError(`tune needs --data <file>\n\n${usage}`);
  const method = (values.method ?? 'peqa') as Method;
  if (!METHODS.includes(method)) throw new UsageError(`--method must be ${METHODS.join(', ')}, got ${JSON.stringify(values.method)}`);
  const rank = intFlag(values.rank, 'rank', 8);
  const steps = intFlag(values.steps, 'steps', 100, 0);
  const warmup = intFlag(values.warmup, 'warmup', Math.floor(steps / 10), 0);
  if (warmup > steps) throw new UsageError(`--warmup ${warmup} is more than --steps ${steps}`);
  const bits = values.bits === undefined ? null : intFlag(values.bits, 'bits', 4, 2);
  if (bits !== null && ![2, 3, 4].includes(bits)) throw new UsageError(`--bits must be 2, 3 or 4, got ${bits}`);
  const budget = values.budget === undefined ? null : numFlag(values.budget, 'budget', 4, 0.5, 32);
  if (budget !== null && method !== 'lqlora' && method !== 'reallm') throw new UsageError('--budget chooses each matrix\'s quantization (LQ-LoRA\'s types or ReALLM\'s codebook shapes); it needs --method lqlora or reallm');
  if (budget !== null && bits !== null) throw new UsageError('--budget chooses each matrix\'s type itself; drop --bits (or drop --budget for one grid everywhere)');
  const weighting = weightingFlag(values, method, bits, budget);
  if (values.types !== undefined && budget === null) throw new UsageError('--types belongs to --budget');
  if (values.types !== undefined && method === 'reallm') throw new UsageError('--types lists LQ-LoRA\'s GGUF types and grids; --method reallm --budget chooses among learned-codebook shapes (d, k) itself');
  if (budget === null && method !== 'reallm' && values.imatrix !== undefined && weighting !== 'imatrix') throw new UsageError('--imatrix belongs to --budget, --method reallm or --weighting imatrix');
  if (method === 'lqlora' && bits === null && budget === null) throw new UsageError('--method lqlora needs --bits or --budget (it builds the quantized base itself)');
  const vqDim = values['vq-dim'] === undefined ? null : intFlag(values['vq-dim'], 'vq-dim', 8, 2);
  const vqBits = values['vq-bits'] === undefined ? null : intFlag(values['vq-bits'], 'vq-bits', 8, 1);
  if ((vqDim !== null || vqBits !== null) && method !== 'reallm') throw new UsageError('--vq-dim and --vq-bits shape ReALLM\'s learned codebook; they need --method reallm');
  if (method === 'reallm') {
    if (budget !== null && (vqDim !== null || vqBits !== null)) throw new UsageError('--budget chooses each matrix\'s codebook shape itself; drop --vq-dim and --vq-bits (or drop --budget for one shape everywhere)');
    if (budget === null && bits === null && (vqDim === null || vqBits === null)) throw new UsageError('--method reallm needs --bits, --budget (or --vq-dim and --vq-bits): it builds the learned-codebook base itself');
    if (vqDim !== null && ![2, 4, 8].includes(vqDim)) throw new UsageError(`--vq-dim must be 2, 4 or 8, got ${vqDim}`);
    if (vqBits !== null && vqBits > 16) throw new UsageError(`--vq-bits must be 1 to 16 (AQLM codes are at most int16), got ${vqBits}`);
  }
  const dora = values.dora === true;
  if (dora && !['lora', 'lqlora', 'reallm'].includes(method)) throw new UsageError(`--dora adds a magnitude to LoRA on a frozen base: it needs --method lora, lqlora or reallm, not ${method}`);
  if (values['train-codebooks'] === true && method !== 'reallm') throw new UsageError('--train-codebooks trains ReALLM\'s learned tables; it needs --method reallm');
  const peqa = (values.peqa ?? 'auto') as PeqaKind;
  if (!PEQA_KINDS.includes(peqa)) throw new UsageError(`--peqa must be ${PEQA_KINDS.join(', ')}, got ${JSON.stringify(values.peqa)}`);
  const format = (values.format ?? null) as ExportFormat | null;
  if (format !== null && !EXPORT_FORMATS.includes(format)) throw new UsageError(`--format must be ${EXPORT_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
  if (values.distill === undefined && (values.topk !== undefined || values.temperature !== undefined)) throw new UsageError('--topk and --temperature belong to --distill <teacher>');
  const evalEvery = intFlag(values['eval-every'], 'eval-every', 0, 0);
  const earlyStop = intFlag(values['early-stop'], 'early-stop', 0, 0);
  if (earlyStop > 0 && evalEvery === 0) throw new UsageError('--early-stop needs --eval-every N (it counts evaluations during the run)');
  return {
    model: resolve(positionals[0]),
    data: resolve(values.data),
    evalData: typeof values['eval-data'] === 'string' ? resolve(values['eval-data']) : null,
    method,
    rank,
    rankPerMatrix: values.rank === undefined,
    alpha: numFlag(values.alpha, 'alpha', rank, 1e-6, 1e6),
    dora,
    steps,
    lr: numFlag(values.lr, 'lr', 1e-3, 0, 10),
    warmup,
    batch: intFlag(values.batch, 'batch', 4),
    accumulate: intFlag(values.accum, 'accum', 1),
    seqLen: intFlag(values.seq, 'seq', 128, 2),
    evalEvery,
    evalWindows: intFlag(values['eval-windows'], 'eval-windows', 32, 0),
    seed: intFlag(values.seed, 'seed', 0, 0),
    bits: bits as 2 | 3 | 4 | null,
    budget,
    imatrix: typeof values.imatrix === 'string' ? resolve(values.imatrix) : null,
    vqDim,
    vqBits,
    trainCodebooks: values['train-codebooks'] === true,
    weighting,
    calib: typeof values.calib === 'string' ? resolve(values.calib) : null,
    calibWindows: intFlag(values['calib-windows'], 'calib-windows', 32, 1),
    types: typeof values.types === 'string' ? values.types.split(',').map((t) => t.trim()).filter(Boolean) : null,
    group: values.group === 'channel' ? 'channel' : intFlag(values.group, 'group', 64, 1),
    peqa,
    format,
    sample: typeof values.sample === 'string' ? values.sample : null,
    plainChat: values['plain-chat'] === true,
    checkpointEvery: values['checkpoint-every'] === undefined ? null : intFlag(values['checkpoint-every'], 'checkpoint-every', 0, 0),
    earlyStop,
    distill: typeof values.distill === 'string' ? (values.distill === 'self' ? 'self' : resolve(values.distill)) : null,
    topK: values.topk === undefined ? null : intFlag(values.topk, 'topk', 64, 1),
    temperature: numFlag(values.temperature, 'temperature', 1, 1e-3, 100),
    distillLoss: lossFlag(values.loss, values.distill !== undefined),
    divergence: divergenceFlag(values['distill-loss'], values.distill !== undefined, values.loss),
    hiddenLoss: hiddenLossFlag(values, values.distill !== undefined),
  };
}

/** --weighting and its inputs: lqlora with --bits; imatrix needs --imatrix, fisher --calib. */
function weightingFlag(values: Values, method: Method, bits: number | null, budget: number | null): Weighting {
  const w = (values.weighting ?? 'none') as Weighting;
  if (!WEIGHTINGS.includes(w)) throw new UsageError(`--weighting must be ${WEIGHTINGS.join(', ')}, got ${JSON.stringify(values.weighting)}`);
  if (w !== 'none' && !((method === 'lqlora' && (bits !== null || budget !== null)) || (method === 'reallm' && budget !== null)))
    throw new UsageError('--weighting weighs LQ-LoRA\'s or ReALLM\'s split: it needs --method lqlora with --bits B or --budget B, or --method reallm --budget B');
  if (w === 'fisher' && budget !== null && values.imatrix !== undefined)
    throw new UsageError('--budget --weighting fisher weighs the plan by the Fisher estimate; drop --imatrix (or use --weighting imatrix)');
  if (w === 'imatrix' && typeof values.imatrix !== 'string') throw new UsageError('--weighting imatrix needs --imatrix <file>');
  if (w === 'fisher' && typeof values.calib !== 'string') throw new UsageError('--weighting fisher needs --calib <text file> (the calibration text of the Fisher estimate)');
  if (w !== 'fisher' && (values.calib !== undefined || values['calib-windows'] !== undefined)) throw new UsageError('--calib and --calib-windows belong to --weighting fisher');
  return w;
}

function lossFlag(v: string | boolean | undefined, distill: boolean): 'kl' | 'label' {
  if (v === undefined) return 'kl';
  if (!distill) throw new UsageError('--loss chooses between distilling and the label loss; it needs --distill <teacher>');
  if (v !== 'kl' && v !== 'label') throw new UsageError(`--loss must be kl or label, got ${JSON.stringify(v)}`);
  return v;
}

function divergenceFlag(v: string | boolean | undefined, distill: boolean, loss: string | boolean | undefined): Divergence {
  if (v === undefined) return 'kl';
  if (!distill) throw new UsageError('--distill-loss chooses the divergence to a teacher; it needs --distill <teacher>');
  if (!DIVERGENCES.includes(v as Divergence)) throw new UsageError(`--distill-loss must be ${DIVERGENCES.join(', ')}, got ${JSON.stringify(v)}`);
  if (loss === 'label') throw new UsageError('--distill-loss chooses the divergence a distillation trains on; --loss label trains on the labels instead');
  return v as Divergence;
}

function hiddenLossFlag(values: Values, distill: boolean): number | null {
  const v = values['hidden-loss'];
  if (v === undefined) return null;
  if (!distill) throw new UsageError('--hidden-loss adds L1 to a teacher\'s hidden states; it needs --distill <teacher>');
  if (values.loss === 'label') throw new UsageError('--hidden-loss is a term of the distillation loss; --loss label trains on the labels instead');
  if (values['teacher-mode'] === 'cached') throw new UsageError('--hidden-loss needs a live teacher (--teacher-mode live or auto): its hidden states are computed beside the student each step, and a cache holds only its top-K log-probabilities');
  return numFlag(v, 'hidden-loss', 0, 0, 1e6);
}

/** Flags that only a new run takes: with --resume they come from the checkpoint. */
const RUN_FLAGS = ['method', 'rank', 'alpha', 'dora', 'steps', 'lr', 'warmup', 'batch', 'accum', 'seq', 'eval-every', 'eval-windows', 'seed', 'bits', 'budget', 'imatrix', 'types', 'vq-dim', 'vq-bits', 'train-codebooks', 'weighting', 'calib', 'calib-windows', 'group', 'peqa', 'format', 'sample', 'plain-chat', 'checkpoint-every', 'early-stop', 'out', 'distill', 'topk', 'temperature', 'loss', 'distill-loss', 'hidden-loss'];

/** Settings of a resumed run: the checkpoint's, with moved files' paths from the command line. */
export function resumeSettings(saved: Record<string, unknown>, values: Values, positionals: string[], file: string): TuneSettings {
  const given = RUN_FLAGS.filter((f) => values[f] !== undefined);
  if (given.length) throw new UsageError(`--resume continues a run with its own settings; drop ${given.map((f) => `--${f}`).join(', ')}`);
  if (positionals.length > 1) throw new UsageError('tune --resume takes at most one model path (when the model file moved)');
  const s = saved as unknown as TuneSettings;
  for (const k of ['model', 'data', 'method'] as const) if (typeof s[k] !== 'string') throw new CheckpointError(file, `has no run setting "${k}" (not written by sub4 tune?)`);
  for (const k of ['rank', 'alpha', 'steps', 'lr', 'warmup', 'batch', 'accumulate', 'seqLen', 'evalEvery', 'evalWindows', 'seed', 'earlyStop'] as const)
    if (typeof s[k] !== 'number') throw new CheckpointError(file, `has no numeric run setting "${k}" (not written by sub4 tune?)`);
  return {
    ...s,
    model: positionals[0] !== undefined ? resolve(positionals[0]) : s.model,
    data: typeof values.data === 'string' ? resolve(values.data) : s.data,
    evalData: typeof values['eval-data'] === 'string' ? resolve(values['eval-data']) : s.evalData,
  };
}
