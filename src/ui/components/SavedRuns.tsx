// Saved runs: what the worker keeps in the browser's storage (OPFS). Unfinished
// runs say where they stopped ("Resume PEQA on model.gguf, step 120 of 300")
// and resume with one click on the loaded model and the dropped data file, which
// the worker checks are the same files (identity hashes; another model or other
// data is refused). Finished runs open again, so they can be exported after a
// reload. Every run can be deleted; the storage used and whether the browser
// keeps it (persistent storage) are shown. Also asks the worker for a checkpoint
// whenever the tab is hidden.
import { useEffect } from 'react';
import { currentTrainFile } from '../../state/actions.ts';
import { checkpointNow, deleteRun, refreshRuns, resumeRun } from '../../state/saved_runs.ts';
import { unfinished } from '../../state/slices/runs.ts';
import type { SavedRun } from '../../worker/protocol.ts';
import { useAppStore, useServices } from '../hooks/useAppStore.ts';
import { formatBytes } from '../format.ts';
import { ErrorNote } from './ErrorNote.tsx';

const METHOD_NAMES: Record<string, string> = { peqa: 'PEQA', lora: 'LoRA', 'peqa+lora': 'PEQA + LoRA', lqlora: 'LQ-LoRA', reallm: 'ReALLM' };

function describe(r: SavedRun): string {
  if (r.problem !== null) return `Run ${r.id}: ${r.problem}`;
  // A repair resumes only from its own teacher (a teacher file is dropped again under Repair quantization).
  const what = `${METHOD_NAMES[r.method ?? ''] ?? r.method} on ${r.model}${r.teacher ? `, repaired from ${r.teacher}` : ''}`;
  return unfinished(r) ? `Resume ${what}, step ${r.step} of ${r.totalSteps}` : `Open ${what}, finished (${r.totalSteps} steps), to export it`;
}

export function SavedRuns() {
  const { client, store } = useServices();
  const runs = useAppStore((s) => s.runs);
  const ready = useAppStore((s) => s.model.status === 'ready');
  const dataName = useAppStore((s) => (s.train.data.status === 'ready' ? s.train.data.name : null));
  const running = useAppStore((s) => s.train.run.status === 'running' || s.train.run.status === 'paused');
  const current = useAppStore((s) => s.train.run.savedId);

  useEffect(() => {
    void refreshRuns(client, store);
    // A hidden tab may be frozen or killed next: save the run's last good state now.
    const onHidden = () => {
      if (document.visibilityState === 'hidden') checkpointNow(client, store);
    };
    document.addEventListener('visibilitychange', onHidden);
    return () => document.removeEventListener('visibilitychange', onHidden);
  }, [client, store]);

  const shown = runs.runs.filter((r) => !(running && r.id === current));
  const filesOpen = ready && dataName !== null && currentTrainFile(store) !== null;
  // A run whose file handles are kept resumes without files open: it opens its own.
  const canResume = (r: SavedRun) => !running && r.problem === null && (filesOpen || runs.withFiles.includes(r.id));
  return (
    <section className="panel saved-runs" data-testid="saved-runs" data-status={runs.status} data-count={shown.length}>
      <h2>Saved runs</h2>
      {runs.error && <ErrorNote title="The saved runs could not be listed" error={runs.error} />}
      {shown.length === 0 && <p className="muted">No saved runs. A run saves checkpoints here as it goes, so a reload or a crash can resume it.</p>}
      {shown.some((r) => !canResume(r)) && !running && (
        <p className="muted" data-testid="saved-runs-hint">
          To resume or open a run whose files were chosen or dropped (not opened with "remembered"), load its model and drop its data
          file first: sub4 checks they are the same files it was trained on.
        </p>
      )}
      <ul className="saved-run-list">
        {shown.map((r) => (
          <li
            key={r.id}
            data-testid="saved-run"
            data-id={r.id}
            data-step={r.step}
            data-total={r.totalSteps}
            data-files={runs.withFiles.includes(r.id) ? 'kept' : 'ask'}
          >
            <button type="button" data-testid="saved-run-resume" disabled={!canResume(r)} onClick={() => void resumeRun(client, store, r)}>
              {describe(r)}
            </button>{' '}
            <span className="muted">
              {r.data && `data ${r.data}, `}
              {formatBytes(r.bytes)}
              {r.savedAt > 0 && `, saved ${new Date(r.savedAt).toLocaleString()}`}
            </span>{' '}
            <button type="button" data-testid="saved-run-delete" disabled={running && r.id === current} onClick={() => void deleteRun(client, store, r.id)}>
              Delete
            </button>
          </li>
        ))}
      </ul>
      {runs.storage && (
        <p className="muted" data-testid="saved-runs-storage" data-usage={runs.storage.usage} data-quota={runs.storage.quota}>
          This page uses {formatBytes(runs.storage.usage)} of {formatBytes(runs.storage.quota)} the browser allows it.{' '}
          {runs.persisted === true && 'The browser keeps it (persistent storage).'}
          {runs.persisted === false && 'The browser did not grant persistent storage: it may clear saved runs when the disk runs low.'}
        </p>
      )}
    </section>
  );
}
