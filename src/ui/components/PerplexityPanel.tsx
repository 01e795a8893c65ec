// Perplexity panel: drop or pick a text file, choose window length (ctx) and
// count, Evaluate; a bar follows the windows scored and the result shows mean
// NLL, perplexity and tokens (the numbers `sub4 eval` prints). Disabled until a
// model is loaded; the file is read and scored in the engine worker.
import { useRef, useState, type DragEvent, type FormEvent } from 'react';
import { evaluatePerplexity } from '../../state/actions.ts';
import { evaluatedFraction } from '../../state/slices/perplexity.ts';
import { useAppStore, useServices } from '../hooks/useAppStore.ts';
import { formatBytes, formatCount } from '../format.ts';
import { runPhaseText } from '../phases.ts';
import { ErrorNote } from './ErrorNote.tsx';
import { NumberField, parseNumber } from './Field.tsx';
import { ProgressBar } from './ProgressBar.tsx';

export function PerplexityPanel() {
  const { client, store } = useServices();
  const ready = useAppStore((s) => s.model.status === 'ready');
  const p = useAppStore((s) => s.perplexity);
  const [file, setFile] = useState<File | null>(null);
  const [ctx, setCtx] = useState('128');
  const [windows, setWindows] = useState('8');
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const running = p.status === 'running';

  const onDrop = (ev: DragEvent) => {
    ev.preventDefault();
    setOver(false);
    // One text file; a dropped folder has no File of its own and arrives as a 0-byte entry, so only files count.
    const dropped = Array.from(ev.dataTransfer.items, (it) => (it.kind === 'file' && it.webkitGetAsEntry?.()?.isDirectory !== true ? it.getAsFile() : null)).find(Boolean);
    if (ready && dropped) setFile(dropped);
  };

  const submit = (ev: FormEvent) => {
    ev.preventDefault();
    if (file) void evaluatePerplexity(client, store, file, parseNumber(ctx), parseNumber(windows));
  };

  return (
    <section className="panel" data-testid="perplexity-panel" data-run-id={p.runId}>
      <h2 className="with-badge">
        Perplexity{' '}
        <span className={`badge ${p.status}`} data-testid="ppl-status" role="status">
          {p.status}
        </span>
      </h2>
      {!ready && <p className="muted">Load a model to evaluate it on a text.</p>}
      <form onSubmit={submit}>
        <fieldset disabled={!ready}>
          {/* The text and window settings appear with a model: before, they only pushed the page down (1280×900). */}
          {ready && (
          <div
            className={over && ready ? 'drop small over' : 'drop small'}
            onDragOver={(ev) => {
              ev.preventDefault();
              setOver(true);
            }}
            onDragLeave={() => setOver(false)}
            onDrop={onDrop}
            data-testid="text-drop"
          >
            <p>
              {file ? (
                <>
                  <span className="mono" data-testid="text-file">
                    {file.name}
                  </span>{' '}
                  ({formatBytes(file.size)})
                </>
              ) : (
                'Drop a plain UTF-8 text file (.txt) here.'
              )}
            </p>
            <button type="button" onClick={() => input.current?.click()}>
              {file ? 'Choose another…' : 'Choose a text file…'}
            </button>
            <input
              ref={input}
              type="file"
              accept=".txt,text/plain"
              hidden
              data-testid="pick-text"
              onChange={(ev) => {
                const f = ev.target.files?.[0];
                if (f) setFile(f);
                ev.target.value = '';
              }}
            />
          </div>
          )}
          {ready && (
            <div className="fields">
              <NumberField label="ctx (tokens per window)" value={ctx} onChange={setCtx} testId="ppl-ctx" min={2} title="window length, BOS included" />
              <NumberField label="Windows" value={windows} onChange={setWindows} testId="ppl-windows" min={1} title="consecutive windows from the start of the text" />
            </div>
          )}
          <div className="buttons left">
            <button type="submit" className="primary" data-testid="evaluate" disabled={!file || running}>
              Evaluate
            </button>
          </div>
        </fieldset>
      </form>
      {p.status !== 'idle' && (
        <div className="run">
          <ProgressBar fraction={evaluatedFraction(p)} label="windows scored" testId="ppl-progress" />
          {running && <p className="muted">{runPhaseText(p.progress)}</p>}
        </div>
      )}
      {p.error && <ErrorNote title={`Could not evaluate ${p.file ?? 'the text'}`} error={p.error} />}
      {p.result && (
        <table className="kv" data-testid="ppl-result">
          <tbody>
            <tr>
              <th>Perplexity</th>
              <td data-testid="ppl-value" data-value={p.result.ppl}>
                <strong>{p.result.ppl.toFixed(4)}</strong>
              </td>
            </tr>
            <tr>
              <th>Mean NLL</th>
              <td data-testid="ppl-nll" data-value={p.result.nll}>
                {p.result.nll.toFixed(6)} nats per token
              </td>
            </tr>
            <tr>
              <th>Tokens scored</th>
              <td data-testid="ppl-tokens">
                {formatCount(p.result.tokens)} <span className="muted">({p.windows} windows of {p.ctx}, BOS first; {p.result.file})</span>
              </td>
            </tr>
          </tbody>
        </table>
      )}
    </section>
  );
}
