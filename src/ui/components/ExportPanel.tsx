// Export panel, shown once a run has finished (or was stopped): one button per
// format, enabled when the worker says the run can be written to it exactly
// (disabled ones say why), a bar while the files are written, then the files
// and the exporter's notes. Where the browser can write to a folder, the button
// asks for one; elsewhere each complete file is downloaded (src/ui/save.ts).
import { useEffect } from 'react';
import { cancelExport, exportTrainedRun, loadExportChoices } from '../../state/actions.ts';
import { exportedFraction, type ExportJobState } from '../../state/slices/export.ts';
import { runTrained } from '../../state/slices/train.ts';
import type { ExportFormat } from '../../export/export.ts';
import { useAppStore, useServices } from '../hooks/useAppStore.ts';
import { formatBytes } from '../format.ts';
import { canPickFolder, chooseDestination, startDownloads } from '../save.ts';
import { ErrorNote } from './ErrorNote.tsx';
import { FORMAT_NAMES } from './ExportFormatsHint.tsx';
import { ProgressBar } from './ProgressBar.tsx';

function JobStatus({ job }: { job: ExportJobState }) {
  const c = job.current;
  const where = job.destination === 'folder' ? `into the folder ${job.folder ?? ''}` : 'as downloads';
  return (
    <div className="run" data-testid="export-job" data-job={job.jobId} data-status={job.status} data-format={job.format ?? ''}>
      {job.status === 'exporting' && (
        <>
          <ProgressBar fraction={exportedFraction(job)} label="export" testId="export-progress" />
          <p className="muted" data-testid="export-current">
            {c
              ? `writing ${c.file}: ${formatBytes(c.bytes)}${c.total ? ` (file ${Math.min(c.index + 1, c.total)} of ${c.total})` : ''} ${where}`
              : `${job.phase ?? 'starting'}…`}
          </p>
        </>
      )}
      {job.status === 'done' && (
        <p data-testid="export-done">
          {FORMAT_NAMES[job.format!]} written {where} in {job.seconds?.toFixed(1)} s.
        </p>
      )}
      {job.error && <ErrorNote error={job.error} title={job.status === 'cancelled' ? 'Export cancelled' : 'Export failed'} />}
      {job.files.length > 0 && (
        <table className="files" data-testid="export-files">
          <tbody>
            {job.files.map((f) => (
              <tr key={f.name} data-name={f.name} data-bytes={f.bytes}>
                <td>{f.name}</td>
                <td className="num">{formatBytes(f.bytes)}</td>
                <td>{f.url ? <a href={f.url} download={f.name}>save again</a> : <span className="muted">saved</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {job.status !== 'done' && job.files.length > 0 && job.status !== 'exporting' && (
        <p className="muted">The files listed are complete; the one being written when it stopped was dropped.</p>
      )}
      {job.notes.length > 0 && (
        <ul className="problems" data-testid="export-notes">
          {job.notes.map((n, i) => (
            <li key={i}>{n}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function ExportPanel() {
  const { client, store } = useServices();
  const runId = useAppStore((s) => s.train.run.runId);
  const trained = useAppStore((s) => runTrained(s.train.run));
  const loadId = useAppStore((s) => s.model.loadId);
  const choices = useAppStore((s) => s.export.choices);
  const job = useAppStore((s) => s.export.job);
  // A run stopped before its first step trained nothing: there is nothing to export.
  const finished = trained;
  const busy = job.status === 'exporting';

  // Once per finished run (and again if the model was replaced since: the worker then says why not).
  useEffect(() => {
    if (finished && (choices.runId !== runId || choices.loadId !== loadId)) void loadExportChoices(client, store);
  }, [client, store, finished, runId, loadId, choices.runId, choices.loadId]);

  if (!finished) return null;
  const onExport = async (format: ExportFormat) => {
    const destination = await chooseDestination(); // the picker must open in the click itself
    if (destination) await exportTrainedRun(client, store, format, destination, startDownloads());
  };
  const report = choices.report;
  return (
    <section className="panel export-panel" data-testid="export-panel" data-choices={choices.status}>
      <h2 className="with-badge">
        Export{' '}
        <span className={`badge ${job.status === 'exporting' ? 'running' : job.status}`} data-testid="export-status" role="status">
          {job.status}
        </span>
      </h2>
      {report && (
        <p className="muted" data-testid="export-run">
          {report.run.method} on {report.run.base}, {report.run.steps} steps on {report.run.data}.{' '}
          {canPickFolder() ? 'Each button asks for a folder to write the files into.' : 'The files are downloaded one by one.'}
        </p>
      )}
      {choices.status === 'loading' && <p className="muted">Reading the trained run…</p>}
      {choices.error && <ErrorNote error={choices.error} title="Cannot export this run" />}
      {report && (
        <div className="export-choices">
          {report.choices.map((c) => (
            <div key={c.format} className="export-choice">
              <button
                type="button"
                className={c.ok ? 'primary' : undefined}
                data-testid={`export-${c.format}`}
                disabled={!c.ok || busy}
                title={c.detail}
                onClick={() => void onExport(c.format)}
              >
                Export {FORMAT_NAMES[c.format]}
              </button>
              <span className={c.ok ? 'muted' : 'bad-text'} data-testid={`export-${c.format}-detail`}>
                {c.ok ? c.detail : `not available: ${c.detail}`}
              </span>
            </div>
          ))}
        </div>
      )}
      {busy && (
        <div className="buttons left">
          <button type="button" data-testid="export-cancel" onClick={() => cancelExport(store)}>
            Cancel
          </button>
        </div>
      )}
      {job.status !== 'idle' && <JobStatus job={job} />}
    </section>
  );
}
