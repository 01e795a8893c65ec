// Before a run starts: which formats the chosen settings will export to
// exactly (plannedExports, src/export/plan.ts — plain data, no engine),
// from the method, the quantization grid, and the loaded model's format and
// linear-layer types. After the run, the export panel asks the worker, which
// decides from the tuned model itself with the same rules.
import { memo } from 'react';
import { formSettings, type TrainForm } from '../../state/slices/train.ts';
import { plannedExports, type PlannedExport, type PlannedFormat, type RunShape } from '../../export/plan.ts';
import { useAppStore } from '../hooks/useAppStore.ts';

export const FORMAT_NAMES: Record<PlannedFormat, string> = {
  gguf: 'GGUF',
  'gguf-lora': 'GGUF + LoRA adapter',
  peft: 'PEFT adapter',
  gptq: 'GPTQ',
  mlx: 'MLX',
  aqlm: 'AQLM + PEFT adapter',
  merged: 'merged F16 checkpoint',
};

/** The form's quantization choice as plannedExports reads it (the group as typed; NaN is named in the reason). */
function quantOf(form: TrainForm): RunShape['quant'] {
  if (form.bits === 'file') return null;
  const g = form.group.trim();
  return { bits: Number(form.bits), groupSize: g === 'channel' ? 'channel' : g === '' ? Number.NaN : Number(g) };
}

/** Why, in words (as src/export/export_dora.ts refuses them after the run), and what is left. */
function doraWhy(learned: boolean, left: readonly PlannedExport[]): string {
  const why = `${learned ? 'PEFT refuses DoRA on AQLM layers, and ' : ''}llama.cpp's and mlx-lm's LoRA adapters hold no magnitude vectors`;
  const rest = left.length ? `it exports as ${left.map((p) => FORMAT_NAMES[p.format]).join(', ')}` : 'no format here takes it (a merged checkpoint needs a Hugging Face base folder)';
  return `${why}; ${rest}, and stays a trained run in this page for Generate.`;
}

/** Reads the form and the model from the store, so the training panel places it with one line (memo: a run re-renders that panel often). */
export const ExportFormatsHint = memo(function ExportFormatsHint() {
  const form = useAppStore((s) => s.train.form);
  const format = useAppStore((s) => s.model.facts?.format ?? null);
  const linearTypes = useAppStore((s) => s.model.linearTypes);
  if (!format) return null;
  // DoRA as the request will carry it (off for a method that takes none).
  const dora = formSettings(form).dora === true;
  const planned = plannedExports({ method: form.method, quant: quantOf(form), dora, base: { format, linearTypes } });
  const aqlm = planned.find((p) => p.format === 'aqlm');
  // The formats DoRA refuses: written (exactly or approximately) without it, not with it.
  const without = dora ? plannedExports({ method: form.method, quant: quantOf(form), base: { format, linearTypes } }) : [];
  const refusedByDora = planned.filter((p) => !p.exact && !p.approximate && without.some((q) => q.format === p.format && (q.exact || q.approximate)));
  return (
    <>
      <p className="export-hint" data-testid="export-hint">
        <span className="muted">Exports exactly to: </span>
        {planned.map((p) => (
          <span
            key={p.format}
            className={p.exact ? 'fmt yes' : 'fmt no'}
            title={p.why}
            data-testid={`export-hint-${p.format}`}
            data-exact={String(p.exact)}
          >
            {p.exact ? '✓' : '✗'} {FORMAT_NAMES[p.format]}
          </span>
        ))}
      </p>
      {/* What DoRA takes away, said before training (not only in a tooltip, and not as a failed export afterwards). */}
      {refusedByDora.length > 0 && (
        <p className="note" data-testid="export-hint-dora">
          With DoRA this run cannot be written as {refusedByDora.map((p) => FORMAT_NAMES[p.format]).join(', ')}: {doraWhy(form.method === 'reallm', planned.filter((p) => p.exact))}
        </p>
      )}
      {/* ReALLM's layout is chosen for AQLM (one scale per output row): said before training, not only in a tooltip. */}
      {form.method === 'reallm' && aqlm?.exact && (
        <p className="note" data-testid="export-hint-layout">
          {aqlm.why}
        </p>
      )}
    </>
  );
});
