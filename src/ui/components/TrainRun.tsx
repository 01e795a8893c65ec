// A training run as it goes: what the worker is doing, step / loss / tokens/s /
// ETA / GPU memory, the live loss chart, the samples before and after side by
// side, and how the run ended. Renders the store's train.run only. The chart
// is mounted before the first run (empty), so its one-time set-up never lands
// on the page's thread while the worker is busy. A repair adds the chart of KL
// to the teacher beside it, and the teacher / student gap to the outcome.
import type { TrainRunState } from '../../state/slices/train.ts';
import { formatBytes, formatCount } from '../format.ts';
import { runPhaseText } from '../phases.ts';
import { ErrorNote } from './ErrorNote.tsx';
import { CHART_LABELS, LossChart } from './LossChart.tsx';
import { RepairGap } from './RepairGap.tsx';

function phaseText(r: TrainRunState): string {
  const p = r.progress;
  if (!p) return '';
  switch (p.phase) {
    case 'reading data':
      return 'reading the data…';
    case 'quantizing':
      return p.total > 1 ? `quantizing the base (${p.done} of ${p.total} layers)…` : 'quantizing the base…';
    case 'uploading the teacher':
      return 'uploading the teacher…';
    case 'preparing':
      return 'setting up the trainable parameters…';
    case 'sampling':
      return 'sampling before training…';
    case 'evaluating':
      return 'scoring the held-out windows…';
    case 'training':
      return r.status === 'paused' ? 'paused' : r.pausing ? 'pausing after this step…' : r.stopping ? 'stopping after this step…' : 'training…';
    case 'finishing':
      return 'scoring the held-out windows and sampling after training…';
    default:
      return runPhaseText(p);
  }
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '–';
  const s = Math.round(seconds);
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function Stats({ r }: { r: TrainRunState }) {
  const last = r.last;
  return (
    <table className="kv train-stats">
      <tbody>
        <tr>
          <th>Step</th>
          <td data-testid="train-step" data-value={last?.step ?? 0}>
            {formatCount(last?.step ?? 0)} of {formatCount(r.totalSteps)}
          </td>
          <th>Loss</th>
          <td data-testid="train-loss" data-value={last?.loss ?? ''}>
            {last ? last.loss.toFixed(4) : '–'}
          </td>
        </tr>
        <tr>
          <th>Speed</th>
          <td data-testid="train-speed" data-value={r.tokensPerSecond}>
            {r.tokensPerSecond > 0 ? `${r.tokensPerSecond.toFixed(0)} tokens/s` : '–'}
          </td>
          <th>Time left</th>
          <td data-testid="train-eta">{r.etaSeconds === null ? '–' : r.status === 'running' || r.status === 'paused' ? `about ${duration(r.etaSeconds)}` : '0 s'}</td>
        </tr>
        <tr>
          <th>GPU memory</th>
          <td data-testid="train-gpu" data-value={last?.gpuBytes ?? 0}>
            {last ? formatBytes(last.gpuBytes) : '–'}
          </td>
          <th>Learning rate</th>
          <td>{last ? last.lr.toExponential(2) : '–'}</td>
        </tr>
      </tbody>
    </table>
  );
}

function Sample({ title, prompt, text, testId, waiting }: { title: string; prompt: string; text: string | null; testId: string; waiting: string }) {
  return (
    <div className="sample">
      <h4>{title}</h4>
      <pre className="output">
        <span className="muted">{prompt}</span>
        {text === null ? <span className="muted"> ({waiting})</span> : <span data-testid={testId}>{text}</span>}
      </pre>
    </div>
  );
}

const STOPS = {
  done: 'all steps done',
  stopped: 'stopped early; what was trained is kept',
  'bad-steps': 'stopped: too many bad steps in a row (try a lower learning rate)',
  failed: 'stopped by an error; the steps before it are kept',
  'early-stop': 'stopped: held-out loss stopped improving; the best state is kept',
};

function Result({ r }: { r: TrainRunState }) {
  const x = r.result;
  if (!x) return null;
  const ev = (e: typeof x.evalBefore) => (e ? `${e.loss.toFixed(4)} (perplexity ${e.ppl.toFixed(2)})` : '–');
  return (
    <table className="kv" data-testid="train-result" data-stop={x.stop} data-steps={x.steps}>
      <tbody>
        <tr>
          <th>Outcome</th>
          <td>
            {formatCount(x.steps)} of {formatCount(x.totalSteps)} steps in {duration(x.seconds)}: {x.steps === 0 && x.stop === 'stopped' ? 'stopped before the first step; nothing was trained' : STOPS[x.stop]}
          </td>
        </tr>
        {x.failure && (
          <tr>
            <th>Error</th>
            <td className="bad-text" data-testid="train-failure" data-name={x.failure.name}>
              {x.failure.name}: {x.failure.message}
            </td>
          </tr>
        )}
        {x.warnings.map((w, i) => (
          <tr key={`w${i}`}>
            <th>{i === 0 ? 'Warning' : ''}</th>
            <td className="bad-text" data-testid="train-warning">
              {w}
            </td>
          </tr>
        ))}
        <tr>
          <th>Held-out loss</th>
          <td data-testid="train-eval" data-before={x.evalBefore?.loss ?? ''} data-after={x.evalAfter?.loss ?? ''}>
            {ev(x.evalBefore)} → {ev(x.evalAfter)}
          </td>
        </tr>
        <tr>
          <th>Mean speed, peak GPU</th>
          <td>
            {x.tokensPerSecond.toFixed(0)} tokens/s, {formatBytes(x.peakGpuBytes)}
          </td>
        </tr>
        {x.notes.map((n, i) => (
          <tr key={i}>
            <th>{i === 0 ? 'Notes' : ''}</th>
            <td>{n}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Where the run stands in the browser's storage, and what it went through (a lost device, a full disk). */
function Saved({ r }: { r: TrainRunState }) {
  return (
    <>
      {(r.resumedFrom !== null || r.checkpointStep !== null) && (
        <p className="muted" data-testid="train-checkpoint" data-step={r.checkpointStep ?? ''} data-resumed-from={r.resumedFrom ?? ''}>
          {r.resumedFrom !== null && `Resumed from the checkpoint at step ${r.resumedFrom}. `}
          {r.checkpointStep !== null && `Checkpoint saved at step ${r.checkpointStep}: a reload or a crash resumes from there (Saved runs).`}
        </p>
      )}
      {r.notes.map((n, i) => (
        <p key={i} className={n.kind === 'storage' ? 'note bad-text' : 'note'} data-testid="train-note" data-kind={n.kind}>
          {n.text}
        </p>
      ))}
    </>
  );
}

export function TrainRun({ r }: { r: TrainRunState }) {
  const idle = r.status === 'idle';
  const active = r.status === 'running' || r.status === 'paused';
  return (
    <div className="run train-run">
      {active && <p className="muted" data-testid="train-phase">{phaseText(r)}</p>}
      {r.error && <ErrorNote title="Training failed" error={r.error} />}
      {!idle && <Stats r={r} />}
      {!idle && <Saved r={r} />}
      {r.skipped > 0 && (
        <p className="note">
          {r.skipped} step{r.skipped === 1 ? '' : 's'} skipped: {r.skippedWhy}
        </p>
      )}
      {idle && <p className="muted">The training and held-out losses are drawn here as the run goes.</p>}
      <div className="charts">
        <LossChart steps={r.steps} losses={r.losses} evalSteps={r.evalSteps} evalLosses={r.evalLosses} totalSteps={r.totalSteps} />
        {/* The repair's step loss is its KL to the teacher (the whole vocabulary at temperature 1): the same per-step values. */}
        {r.repair && <LossChart steps={r.steps} losses={r.losses} evalSteps={r.klEvalSteps} evalLosses={r.klEvals} totalSteps={r.totalSteps} labels={CHART_LABELS.kl} />}
      </div>
      {!idle && r.samples.prompt && (
        <div className="samples">
          <Sample title="Before training" prompt={r.samples.prompt} text={r.samples.before} testId="sample-before" waiting={active ? 'sampling…' : 'none'} />
          <Sample title="After training" prompt={r.samples.prompt} text={r.samples.after} testId="sample-after" waiting={active ? 'after the last step' : 'none'} />
        </div>
      )}
      <Result r={r} />
      {r.result?.repair && <RepairGap repair={r.result.repair} />}
    </div>
  );
}
