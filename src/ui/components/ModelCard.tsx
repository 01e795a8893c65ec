// The model card: what the engine worker has open (or is opening, or could not
// open). Loading happens in the worker; this only renders the store's model slice.
import type { LoadProgress } from '../../state/slices/model.ts';
import type { LoadSplit } from '../../worker/protocol.ts';
import { useAppStore, useServices } from '../hooks/useAppStore.ts';
import { cancelLoad } from '../../state/actions.ts';
import { ProgressBar } from './ProgressBar.tsx';
import { formatBytes } from '../format.ts';
import { ErrorNote } from './ErrorNote.tsx';
import { ModelFactsView } from './ModelFacts.tsx';

const PHASES: Record<string, string> = {
  config: 'reading config.json',
  'reading header': 'reading the header',
  tokenizer: 'reading the tokenizer',
  facts: 'summing up tensors and memory',
};

/** "0.42 s (parse 0.38 s, facts 30 ms, read 8.1 ms)": a load's time and where it went, longest phases first. */
function splitText(split: LoadSplit): string {
  const sec = (ms: number) => (ms < 100 ? `${ms.toFixed(ms < 10 ? 1 : 0)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`);
  const phases = Object.entries(split.phases)
    .filter(([, ms]) => ms >= 0.5)
    .sort((a, b) => b[1] - a[1])
    .map(([name, ms]) => `${name} ${sec(ms)}`);
  return phases.length ? `${sec(split.totalMs)} (${phases.join(', ')})` : sec(split.totalMs);
}

function progressText(p: LoadProgress | null): string {
  if (!p) return 'starting…';
  const what = PHASES[p.phase] ?? p.phase;
  // Byte counts for the read phases; 'facts' counts steps, not bytes.
  if (p.phase === 'facts' || p.total === 0) return `${what}…`;
  return `${what}… (${formatBytes(p.done)} of ${formatBytes(p.total)} read so far)`;
}

export function ModelCard() {
  const m = useAppStore((s) => s.model);
  const { store } = useServices();
  const p = m.progress;
  return (
    // data-load-id lets tests (and devtools) tell one load's card from the next.
    <section className="panel" data-testid="model-card" data-load-id={m.loadId}>
      <h2 className="with-badge">
        Model{' '}
        <span className={`badge ${m.status}`} data-testid="model-status" role="status">
          {m.status}
        </span>
      </h2>
      {m.status === 'idle' && <p className="muted">No model yet. Drop a .gguf file or a Hugging Face model folder above.</p>}
      {m.status === 'loading' && (
        <div data-testid="model-loading">
          <p className="muted" data-testid="model-progress">
            Opening {m.label}: {progressText(p)}
          </p>
          <ProgressBar fraction={p && p.total > 0 ? p.done / p.total : 0} label={`Opening ${m.label ?? 'the model'}`} testId="model-progress-bar" />
          <button type="button" data-testid="model-cancel" onClick={() => cancelLoad(store)}>
            Cancel
          </button>
        </div>
      )}
      {m.status === 'cancelled' && (
        <p className="muted" data-testid="model-cancelled">
          Opening {m.label} was cancelled; no model is open. Drop or pick it again to load it.
        </p>
      )}
      {m.status === 'error' && m.error && (
        <div data-testid="model-error">
          <ErrorNote title={`Could not open ${m.label ?? 'the model'}`} error={m.error} />
        </div>
      )}
      {m.status === 'ready' && m.facts && <ModelFactsView facts={m.facts} opened={m.opened} ignored={m.ignored} />}
      {m.status === 'ready' && m.split && (
        // The same split `npm run bench -- load` prints for the CLI, so a slow tab can be compared with it.
        // data-split: the same figures as JSON, for the tab-load benchmark (bench/tab_load.ts) and devtools.
        <p className="muted" data-testid="model-load-times" data-split={JSON.stringify(m.split)}>
          Opened in {splitText(m.split)}.{' '}
          <span data-testid="model-weights-times" data-split={m.weightsSplit ? JSON.stringify(m.weightsSplit) : undefined}>
            {m.weightsSplit ? `Weights on the GPU in ${splitText(m.weightsSplit)}.` : 'The weights go onto the GPU with the first Generate, Evaluate, Calibrate or training run on them.'}
          </span>
        </p>
      )}
    </section>
  );
}
