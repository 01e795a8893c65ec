// The training form: method presets, the step count, the DoRA and codebook
// switches of the methods that take them, and an Advanced section
// with every setting of `sub4 tune` (method, quantization, LoRA rank/alpha,
// learning rate, batch, seq len, evals, seed, the sample prompt). Values stay
// the text typed; the worker checks them and names a bad field. Editing a
// setting a preset sets marks the form 'custom'. No engine code is imported here.
import { useEffect, useRef } from 'react';
import type { ModelFacts } from '../../model/facts.ts';
import type { ErrorText } from '../../state/errors.ts';
import { DORA_METHODS, type TrainForm } from '../../state/slices/train.ts';
import { NumberField } from './Field.tsx';

interface Preset {
  id: string;
  label: string;
  title: string;
  form: Partial<TrainForm>;
  /** Needs float weights (it quantizes them itself). */
  floatOnly?: boolean;
}

// PEQA's lr, measured with sub4 tune on stories260K (F32 quantized to 4-bit g32, and the Q4_0 file) on Alpaca,
// Tiny Shakespeare and WikiText-2, batch 4 × 128 and 2 × 64, 10 and 100 steps: 1e-3 gave the lowest held-out
// perplexity in every case, against 3e-3 and 3e-4 (Alpaca 2 × 64, 10 steps: 47.76 → 31.22 and a coherent sample
// at 1e-3, → 47.34 and a looping one at 3e-3; Alpaca 4 × 128, 100 steps: 18.66 against 21.91 and 20.86). The
// LoRA presets were not measured and keep 3e-3.
export const PRESETS: Preset[] = [
  { id: 'peqa4', label: 'PEQA 4-bit', title: "train only the quantization scales of a 4-bit base (a quantized file's own)", form: { method: 'peqa', bits: '4', group: '32', lr: '1e-3' } },
  { id: 'qlora8', label: 'QLoRA r8', title: 'LoRA of rank 8 on a frozen 4-bit base', form: { method: 'lora', bits: '4', group: '32', rank: '8', alpha: '16', lr: '3e-3' } },
  { id: 'lqlora2', label: 'LQ-LoRA 2-bit', title: "2-bit base with LoRA started from LQ-LoRA's low-rank correction (float models)", form: { method: 'lqlora', bits: '2', group: '32', rank: '8', alpha: '16', lr: '3e-3' }, floatOnly: true },
  {
    id: 'reallm2',
    label: 'ReALLM 2-bit',
    title: 'learned vector-quantized base at 2 index bits per weight (one scale per output row, as AQLM holds) with LoRA started from its low-rank correction (float models); exports as AQLM + PEFT',
    form: { method: 'reallm', bits: '2', group: 'channel', rank: '8', alpha: '16', lr: '3e-3' },
    floatOnly: true,
  },
];

/** True when the file stores some tensors in a quantized type (then presets train its own types). */
export function storesQuantized(facts: ModelFacts | null): boolean {
  return !!facts && Object.keys(facts.tensorTypes).some((t) => !/^(F|BF|I|U)\d+$/.test(t));
}

/** A preset's settings on this model: a quantized file keeps its own types (re-quantizing would compound the error). */
export function presetForm(p: Preset, quantizedFile: boolean): Partial<TrainForm> {
  return { ...p.form, preset: p.id, ...(quantizedFile && !p.floatOnly ? { bits: 'file' as const } : {}) };
}

const METHOD_WORDS: Record<TrainForm['method'], string> = {
  peqa: 'PEQA (quantization scales)',
  lora: 'LoRA',
  'peqa+lora': 'PEQA + LoRA',
  lqlora: 'LQ-LoRA',
  reallm: 'ReALLM (learned codebooks)',
};
const METHODS = Object.keys(METHOD_WORDS) as TrainForm['method'][];

/** The settings presets choose; changing one of them by hand makes the form 'custom'. */
const PRESET_KEYS: (keyof TrainForm)[] = ['method', 'bits', 'group', 'rank', 'alpha', 'lr', 'dora', 'trainCodebooks'];

/** The worker's field names (RequestParamError.field, src/worker/train_data.ts) → the form's keys. */
const FIELD_KEYS: Record<string, keyof TrainForm> = {
  rank: 'rank',
  alpha: 'alpha',
  steps: 'steps',
  'learning rate': 'lr',
  batch: 'batch',
  'seq len': 'seqLen',
  'eval every': 'evalEvery',
  'eval windows': 'evalWindows',
  seed: 'seed',
  'sample tokens': 'sampleTokens',
  'checkpoint every': 'checkpointEvery',
  'early stop': 'earlyStop',
};

/** The message of `error` without its "field: " head, when it names `key`'s field; else null. */
function errorFor(error: ErrorText | null, key: keyof TrainForm): string | null {
  if (!error?.field || FIELD_KEYS[error.field] !== key) return null;
  const head = `${error.field}: `;
  return error.message.startsWith(head) ? error.message.slice(head.length) : error.message;
}

/** True when the error names a field of the Advanced section (it opens, so the marked field is seen). */
function advancedError(error: ErrorText | null): boolean {
  return !!error?.field && error.field in FIELD_KEYS && FIELD_KEYS[error.field] !== 'steps';
}

export function TrainSettings({ form, facts, error, onChange }: { form: TrainForm; facts: ModelFacts | null; error: ErrorText | null; onChange(patch: Partial<TrainForm>): void }) {
  const quantizedFile = storesQuantized(facts);
  const edit = (patch: Partial<TrainForm>) => onChange(Object.keys(patch).some((k) => PRESET_KEYS.includes(k as keyof TrainForm)) ? { ...patch, preset: 'custom' } : patch);
  const field = (key: Exclude<keyof TrainForm, 'plainChat' | 'repair' | 'dora' | 'trainCodebooks'>, label: string, testId: string, extra: { min?: number; step?: number | 'any'; title?: string } = {}) => (
    <NumberField label={label} value={form[key]} onChange={(v) => edit({ [key]: v })} testId={testId} error={errorFor(error, key)} {...extra} />
  );
  const lora = form.method !== 'peqa';
  // Opened (never closed) when a field in it is refused: the user sees which; fixing it leaves the section as it is.
  const advanced = useRef<HTMLDetailsElement>(null);
  const inAdvanced = advancedError(error);
  useEffect(() => {
    if (inAdvanced && advanced.current) advanced.current.open = true;
  }, [inAdvanced]);
  return (
    <>
      <div className="presets" role="group" aria-label="method presets">
        {PRESETS.map((p) => (
          <button
            type="button"
            key={p.id}
            className={form.preset === p.id ? 'preset on' : 'preset'}
            title={p.floatOnly && quantizedFile ? `${p.title}; this model is already quantized` : p.title}
            disabled={p.floatOnly && quantizedFile}
            aria-pressed={form.preset === p.id}
            data-testid={`train-preset-${p.id}`}
            onClick={() => onChange(presetForm(p, quantizedFile))}
          >
            {p.label}
          </button>
        ))}
        {form.preset === 'custom' && <span className="muted">custom settings</span>}
      </div>
      <div className="fields">
        <NumberField label="Steps" value={form.steps} onChange={(v) => onChange({ steps: v })} testId="train-steps" min={1} title="optimizer steps" error={errorFor(error, 'steps')} />
      </div>
      {/* Beside the preset, not under Advanced: they change what the run trains and what it can export (the hint below says which). */}
      {DORA_METHODS.includes(form.method) && (
        <label className="check" title="PEFT's DoRA: a magnitude per output row trained with the LoRA factors, over the row norm of the weight plus the update (sub4 tune --dora)">
          <input type="checkbox" data-testid="train-dora" checked={form.dora} onChange={(ev) => edit({ dora: ev.target.checked })} />
          DoRA (a trained magnitude per output row; exports merged{form.method === 'reallm' ? '' : ' or as a PEFT DoRA adapter'})
        </label>
      )}
      {form.method === 'reallm' && (
        <label className="check" title="the VQ counterpart of PEQA (sub4 tune --train-codebooks): each learned table's entries and each row's scale train with the LoRA factors; the codes stay as ReALLM chose them">
          <input type="checkbox" data-testid="train-codebooks" checked={form.trainCodebooks} onChange={(ev) => edit({ trainCodebooks: ev.target.checked })} />
          Train the codebooks too (table entries and row scales; codes frozen)
        </label>
      )}
      <details className="advanced" data-testid="train-advanced" ref={advanced}>
        <summary>Advanced</summary>
        <div className="fields">
          <label className="field">
            <span>Method</span>
            <select value={form.method} data-testid="train-method" onChange={(ev) => edit({ method: ev.target.value as TrainForm['method'] })}>
              {METHODS.map((m) => (
                <option key={m} value={m}>
                  {METHOD_WORDS[m]}
                </option>
              ))}
            </select>
          </label>
          <label className="field" title="quantize the float weights first (RTN; LQ-LoRA's split for LQ-LoRA), or train on the file's own types">
            <span>Base</span>
            <select value={form.bits} data-testid="train-bits" onChange={(ev) => edit({ bits: ev.target.value as TrainForm['bits'] })}>
              <option value="file">file's own types</option>
              <option value="4">quantize to 4 bits</option>
              <option value="3">quantize to 3 bits</option>
              <option value="2">quantize to 2 bits</option>
            </select>
          </label>
          <label className="field" title="values per quantization group along a row, or 'channel' for one group per row">
            <span>Group</span>
            <input value={form.group} data-testid="train-group" disabled={form.bits === 'file'} onChange={(ev) => edit({ group: ev.target.value })} />
          </label>
          {lora && field('rank', 'LoRA rank', 'train-rank', { min: 1 })}
          {lora && field('alpha', 'LoRA alpha', 'train-alpha', { min: 0, step: 'any', title: 'the adapter adds alpha / rank · B·A' })}
          {field('lr', 'Learning rate', 'train-lr', { min: 0, step: 'any', title: 'peak; warmup over the first tenth, cosine down to a tenth' })}
          {field('batch', 'Batch', 'train-batch', { min: 1, title: 'windows per step' })}
          {field('seqLen', 'Seq len', 'train-seq', { min: 2, title: 'tokens per window' })}
          {field('evalEvery', 'Eval every', 'train-eval-every', { min: 0, title: 'held-out loss every N steps; 0 = before and after only' })}
          {field('evalWindows', 'Eval windows', 'train-eval-windows', { min: 0, title: 'held-out windows scored per evaluation (the last tenth of the data is held out)' })}
          {field('seed', 'Seed', 'train-seed', { min: 0, title: 'data order and LoRA init: the same seed repeats a run' })}
          {field('sampleTokens', 'Sample tokens', 'train-sample-tokens', { min: 1 })}
          {/* Empty: the worker's CHECKPOINT_SECONDS (src/train/checkpoint/session.ts), which the title states. */}
          {field('checkpointEvery', 'Checkpoint every', 'train-checkpoint-every', {
            min: 0,
            title: 'save the run to the browser\'s storage every N steps, so a reload or a crash can resume it; empty = about every minute; 0 = only at Pause, Stop, a hidden tab and the end',
          })}
          {field('earlyStop', 'Early stop', 'train-early-stop', {
            min: 0,
            title: 'stop when the held-out loss has not improved for N evaluations (needs Eval every) and keep the best step; 0 = off',
          })}
        </div>
        <p className="muted" data-testid="train-checkpoint-hint">
          Checkpoints go to this browser's storage {form.checkpointEvery.trim() === '' ? 'about every minute' : form.checkpointEvery.trim() === '0' ? 'only at Pause, Stop, when the tab is hidden and at the end' : `every ${form.checkpointEvery} steps`}, and at Pause, Stop and when the tab is hidden.
        </p>
        <label className="field wide">
          <span>Sample prompt (continued greedily before and after training; empty = none)</span>
          <input value={form.samplePrompt} data-testid="train-sample-prompt" onChange={(ev) => edit({ samplePrompt: ev.target.value })} />
        </label>
      </details>
    </>
  );
}
